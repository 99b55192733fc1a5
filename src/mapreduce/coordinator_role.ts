// `./node --role coordinator --listen host:port --input <files…> --out DIR [--reduces R]
// [--app wc|indexer|path] [--task-timeout-ms N]`: splits the input, hands map then reduce tasks to
// the workers that ask, keeps the intermediate data, writes DIR/mr-out-<r> atomically, tells the
// workers to exit and exits 0 — or 1 with the app's message when a task keeps failing.

import { mkdir } from "node:fs/promises";
import type { Mapped, NextReply, Reduced, TaskFailed } from "../../protocols/mapreduce.ts";
import { Progress } from "../cli/progress.ts";
import type { RoleSpec } from "../cli/role.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import { serve } from "../runtime/serve.ts";
import { int } from "../wire/fields.ts";
import { Job } from "./job.ts";
import { jobFlags, readJobOptions } from "./job_options.ts";
import { outputPath, writeAtomic } from "./output.ts";
import { readSplits } from "./splits.ts";

export const COORDINATOR_PORT_DEFAULT = 4810;

export const coordinatorRole: RoleSpec = {
  name: "coordinator",
  summary: "MapReduce coordinator: hands map and reduce tasks to workers, survives their crashes",
  flags: [
    ...jobFlags,
    { name: "task-timeout-ms", type: "int", valueName: "N", min: 100, max: 3_600_000, help: `reissue a task silent this long (default ${limits.taskTimeoutMs})` },
  ],
  defaultListen: { host: "127.0.0.1", port: COORDINATOR_PORT_DEFAULT },
  needsConnect: false,
  async start(config, flags) {
    const options = await readJobOptions(flags, "--role coordinator");
    if (!flags.has("frame-bytes-max")) config.frameBytesMax = limits.mapreduceFrameBytesMax;
    const { log } = config;
    const startedMs = performance.now();
    const splits = await readSplits(options.files, limits.splitBytesMax);
    const job = new Job(splits, options.reduces, flags.int("task-timeout-ms", limits.taskTimeoutMs), limits.taskAttemptsMax);
    await mkdir(options.outDir, { recursive: true });
    let finish!: (code: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));
    let ending = false;

    const handlers = new HandlerTable();
    const server = serve(config, handlers);
    const workerOf = (c: { peer: { node: string } | null }): string => c.peer?.node ?? "?";

    handlers
      .on("mr.next", (_m, c): NextReply => {
        const next = job.next(workerOf(c), Date.now());
        if ("finished" in next) return { exit: true };
        if ("wait" in next) return { wait: limits.workerPollMs };
        if (next.kind === "map") {
          const split = splits[next.task]!;
          return { task: { kind: "map", task: next.task, attempt: next.attempt, file: split.file, contents: split.contents, reduces: options.reduces, app: options.appSpec } };
        }
        return { task: { kind: "reduce", task: next.task, attempt: next.attempt, app: options.appSpec, maps: splits.length } };
      })
      .on("mr.mapped", (m) => {
        const { partitions } = m as unknown as Mapped;
        if (!Array.isArray(partitions) || partitions.length !== options.reduces) throw new PeerError("BAD_ARGUMENT", `"partitions" must hold ${options.reduces} arrays`);
        job.completeMap(int(m, "task", 0, splits.length - 1), partitions);
      })
      .on("mr.fetch", (m) => {
        const map = int(m, "map", 0, splits.length - 1);
        const data = job.intermediate[map];
        if (data === null || data === undefined) throw new PeerError("NOT_FOUND", `map ${map} has no output yet`);
        return { groups: data[int(m, "partition", 0, options.reduces - 1)] ?? [] };
      })
      .on("mr.reduced", async (m) => {
        const { output } = m as unknown as Reduced;
        const task = int(m, "task", 0, options.reduces - 1);
        if (typeof output !== "string") throw new PeerError("BAD_ARGUMENT", `"output" must be a string`);
        if (job.isDone("reduce", task)) return; // a duplicate from a reissued task: the first won
        await writeAtomic(outputPath(options.outDir, task), output);
        if (job.completeReduce(task) && job.finished) void end();
      })
      .on("mr.failed", (m) => {
        const { kind, task, attempt, error } = m as unknown as TaskFailed;
        log.warn("task-failed", { kind, task, attempt, error });
        job.failed(kind === "reduce" ? "reduce" : "map", task, attempt, String(error));
        if (job.failure !== null) void end();
      });

    server.on("closed", (c) => {
      if (c.peer?.role !== "worker" || ending) return;
      const released = job.workerLost(c.peer.node);
      if (released > 0) log.warn("worker-lost", { worker: c.peer.node, tasksReleased: released });
    });

    const progress = new Progress("mapreduce", splits.length + options.reduces);
    const status = setInterval(() => {
      const workers = server.readyConnections().filter((c) => c.peer?.role === "worker").length;
      progress.update(job.mapsDone + job.reducesDone, `maps ${job.mapsDone}/${splits.length} reduces ${job.reducesDone}/${options.reduces} workers ${workers} reassigned ${job.reassignments}`);
    }, 250);

    /** Outputs are final before anyone is told to exit; then the workers go, then we do. */
    async function end(): Promise<void> {
      if (ending) return;
      ending = true;
      clearInterval(status);
      progress.update(job.mapsDone + job.reducesDone, `maps ${job.mapsDone}/${splits.length} reduces ${job.reducesDone}/${options.reduces}`);
      progress.finish();
      const code = job.failure === null ? 0 : 1;
      for (const c of server.readyConnections()) c.send({ op: "mr.exit", code });
      const seconds = ((performance.now() - startedMs) / 1000).toFixed(2);
      if (code === 0) {
        process.stdout.write(`done: ${splits.length} map and ${options.reduces} reduce tasks in ${seconds} s; ${job.reassignments} reassigned, ${job.retries} retried; output in ${options.outDir}\n`);
      } else {
        process.stderr.write(`peer-node: job failed: ${job.failure}\n`);
      }
      await Bun.sleep(100); // let the exit messages go out
      await server.stop();
      finish(code);
    }

    log.info("job", { splits: splits.length, reduces: options.reduces, out: options.outDir });
    return { done, stop: async () => { clearInterval(status); await server.stop(); } };
  },
};
