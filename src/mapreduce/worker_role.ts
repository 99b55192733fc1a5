// `./node --role worker --connect host:port[,backup…] [--listen host:port] [--spill-mb N]`: ask the
// coordinator for a task, run it in the task thread, report, repeat; exit when told. Start as many
// as you like, before or after the coordinator.
// - A map's output stays here, in the work dir, and is served to reducers (mr.fetch) on this
//   worker's own address (--listen; loopback port 0 by default; --advertise when listening on
//   0.0.0.0). The coordinator learns that address with mr.mapped.
// - A reduce fetches its partition from every map's worker into one local file, then reduces it
//   with bounded memory (spilling past --spill-mb).
// - The coordinator and the backups it announces are one Upstream: after a loss the worker retries
//   its own coordinator first (coordinatorStickyMs), then every address it knows, and exits 3 only
//   when none answered for coordinatorLostMs.

import { mkdirSync, rmSync } from "node:fs";
import { open, readFile, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mapreduce, mapreduceFetch, mapreduceWorker, type MapTask, type NextReply, type ReduceTask } from "../../protocols/mapreduce.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { formatAddress } from "../runtime/address.ts";
import { ExitError, UsageError } from "../runtime/exit.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import { RoleLife, type RoleSpec } from "../runtime/role.ts";
import { serve } from "../runtime/serve.ts";
import { Upstream } from "../runtime/upstream.ts";
import { FetchPool } from "./fetch_pool.ts";
import { readSpillBytes, spillFlag } from "./job_options.ts";
import { TaskRunner } from "./task_runner.ts";

/** A map output held here: its file and where each partition starts (and the end). */
interface MapOutput {
  path: string;
  offsets: number[];
}

export const workerRole: RoleSpec = {
  name: "worker",
  summary: "MapReduce worker: runs map and reduce tasks for a coordinator (start as many as you like)",
  flags: [
    { name: "task-delay-ms", type: "int", valueName: "N", min: 0, max: limits.taskDelayMsMax, help: "pause this long after each task: simulates a slower machine (demos, labs)" },
    spillFlag,
    { name: "work-dir", type: "string", valueName: "dir", help: "where map outputs and reduce inputs are kept (default: a new dir under the system's temp dir, removed at exit)" },
    { name: "advertise", type: "string", valueName: "host:port", help: "the address reducers on other machines reach this worker's --listen at (needed when listening on 0.0.0.0)" },
    { name: "coordinator-lost-ms", type: "int", valueName: "N", min: 0, max: limits.coordinatorLostMsMax, help: `how long to look for a coordinator after losing it (its own first, then every other known) before exiting 3 (default ${limits.coordinatorLostMs})` },
  ],
  defaultListen: { host: "127.0.0.1", port: 0 },
  needsConnect: true,
  frameBytesMax: limits.mapreduceFrameBytesMax,
  async start(config, flags) {
    const taskDelayMs = flags.int("task-delay-ms", 0);
    const spillBytes = readSpillBytes(flags);
    const workDir = flags.string("work-dir") ?? join(tmpdir(), `peer-node-worker-${config.id}-${process.pid}`);
    mkdirSync(workDir, { recursive: true });
    const life = new RoleLife();
    const outputs = new Map<number, MapOutput>();
    const runner = new TaskRunner();

    // Reducers fetch our map outputs here.
    const server = serve(config, new HandlerTable().serve(mapreduceFetch, {
      "mr.fetch": async ({ map, partition, offset }) => {
        const output = outputs.get(map);
        if (output === undefined || partition + 1 >= output.offsets.length) throw new PeerError("NOT_FOUND", `no output of map ${map} partition ${partition} here`);
        const start = output.offsets[partition]! + offset;
        const end = output.offsets[partition + 1]!;
        const stop = Math.min(end, start + limits.fetchChunkBytes);
        const data = start >= stop ? new Uint8Array(0) : new Uint8Array(await Bun.file(output.path).slice(start, stop).arrayBuffer());
        return { data, done: stop >= end };
      },
    }));
    const advertised = flags.string("advertise") ?? formatAddress({ host: server.host, port: server.port });
    if (flags.string("advertise") === undefined && (server.host === "0.0.0.0" || server.host === "::")) {
      await server.stop();
      throw new UsageError(`--role worker listening on ${server.host} needs --advertise host:port: the address other workers reach it at`);
    }
    const fetches = new FetchPool({ identity: { node: config.id, role: "reducer" }, token: config.token, heartbeatMs: config.heartbeatMs, frameBytesMax: config.frameBytesMax, log: config.log });

    const coordinator: Upstream = new Upstream({
      addresses: config.connect,
      serves: "mapreduce",
      what: "coordinator",
      pendingRoles: ["backup"], // a backup serves once it has taken over
      identity: { node: config.id, role: "worker" },
      token: config.token,
      heartbeatMs: config.heartbeatMs,
      frameBytesMax: config.frameBytesMax,
      firstConnectWindowMs: limits.coordinatorFirstConnectMs,
      lostWindowMs: flags.int("coordinator-lost-ms", limits.coordinatorLostMs),
      stickyMs: limits.coordinatorStickyMs,
      log: config.log,
      handlers: new HandlerTable().serve(mapreduceWorker, {
        "mr.backup": ({ address }) => {
          coordinator.addAddress(address);
          return {};
        },
        "mr.exit": ({ code }) => exit(code),
      }),
    });
    coordinator.on("lost", (err) => {
      cleanUp();
      life.end("upstreamLost", `worker ${config.id}: ${err.message}; exiting`);
    });

    function cleanUp(): void {
      runner.close();
      void fetches.close();
      void server.stop();
      if (flags.string("work-dir") === undefined) rmSync(workDir, { recursive: true, force: true });
    }

    function exit(code: number): void {
      life.stopping = true;
      void coordinator.close().then(() => {
        cleanUp();
        life.end(code);
      });
    }

    async function loop(): Promise<void> {
      let failures = 0;
      while (!life.ended && !life.stopping) {
        let reply: NextReply;
        try {
          await coordinator.ready(limits.coordinatorLostMs * 2);
          reply = await coordinator.call(mapreduce, "mr.next", {});
          failures = 0;
        } catch (err) {
          if (life.ended || life.stopping || coordinator.lost !== null) return; // the "lost" handler ends the role
          // A dropped connection is the Upstream's to mend (within its window); anything else is counted.
          const error = err instanceof PeerError ? err : null;
          if (error?.name !== "CONNECTION_LOST" && error?.name !== "NOT_CONNECTED" && ++failures >= limits.workerCallFailuresMax) {
            cleanUp();
            return life.end("upstreamLost", `worker ${config.id}: mr.next failed ${failures} times in a row: ${(err as Error).message}`);
          }
          await Bun.sleep(limits.workerPollMs);
          continue;
        }
        if (reply.backup !== undefined) coordinator.addAddress(reply.backup);
        if (reply.exit === true) return exit(0);
        if (reply.task === undefined) {
          await Bun.sleep(reply.wait ?? limits.workerPollMs);
          continue;
        }
        const task = reply.task;
        await (task.kind === "map" ? runMap(task) : runReduce(task)).catch((err) => {
          // The coordinator may have reassigned, finished, or gone: the next mr.next sorts it out.
          if (!life.ended && !life.stopping) config.log.warn("task-report-failed", { kind: task.kind, task: task.task, error: (err as Error).message });
        });
        if (taskDelayMs > 0) await Bun.sleep(taskDelayMs);
      }
    }

    async function runMap(task: MapTask): Promise<void> {
      const path = join(workDir, `map-${task.task}-${task.attempt}`);
      const result = await runner.run({ kind: "map", app: task.app, file: task.file, contents: task.contents, reduces: task.reduces, path });
      if (!result.ok) return failed(task, result.error);
      const offsets = result.offsets!;
      const previous = outputs.get(task.task);
      outputs.set(task.task, { path, offsets });
      if (previous !== undefined && previous.path !== path) await unlink(previous.path).catch(() => {});
      const partitionBytes = offsets.slice(1).map((end, p) => end - offsets[p]!);
      await report(() => coordinator.call(mapreduce, "mr.mapped", { task: task.task, attempt: task.attempt, address: advertised, partitionBytes }));
    }

    /**
     * Report a finished task, again after a reconnect if the connection dropped meanwhile: the
     * output is still here, and whoever coordinates now takes it if the task is not done yet.
     */
    async function report(send: () => Promise<unknown>): Promise<void> {
      for (let tries = 1; ; tries++) {
        try {
          await send();
          return;
        } catch (err) {
          const name = err instanceof PeerError ? err.name : "";
          if ((name !== "CONNECTION_LOST" && name !== "NOT_CONNECTED") || tries >= limits.reportTriesMax || life.stopping) throw err;
          await coordinator.ready(limits.coordinatorLostMs);
        }
      }
    }

    async function runReduce(task: ReduceTask): Promise<void> {
      const input = join(workDir, `reduce-${task.task}-${task.attempt}.in`);
      const out = join(workDir, `reduce-${task.task}-${task.attempt}.out`);
      try {
        const failure = await fetchInput(task, input);
        if (failure !== null) {
          await coordinator.call(mapreduce, "mr.fetch-failed", { task: task.task, attempt: task.attempt, ...failure });
          return;
        }
        const result = await runner.run({ kind: "reduce", app: task.app, input, spillBytes, dir: workDir, out });
        if (!result.ok) return failed(task, result.error);
        config.log.info("reduced", { task: task.task, sources: task.sources.length, keys: result.keys, spills: result.spills });
        const output = await readFile(out, "utf8");
        try {
          await report(() => coordinator.call(mapreduce, "mr.reduced", { task: task.task, attempt: task.attempt, output }));
        } catch (err) {
          // An output too large for any frame can never be reported: that is the app's failure, not a hiccup.
          if (err instanceof PeerError && err.name === "TOO_LARGE_FOR_PEER") return failed(task, `its output is too large to send: ${err.message}`);
          throw err;
        }
      } finally {
        await unlink(input).catch(() => {});
        await unlink(out).catch(() => {});
      }
    }

    /**
     * Fetch every source of a reduce into `input`, each map's bytes at its place in map order (so
     * the reduce sees values in the order the maps emitted them), a bounded number at a time.
     * Returns the first failure, or null.
     */
    async function fetchInput(task: ReduceTask, input: string): Promise<{ map: number; address: string; error: string } | null> {
      const file = await open(input, "w");
      try {
        const starts: number[] = [];
        let total = 0;
        for (const [, , bytes] of task.sources) {
          starts.push(total);
          total += bytes;
        }
        let next = 0;
        let failure: { map: number; address: string; error: string } | null = null;
        const fetchOne = async (i: number): Promise<void> => {
          const [map, at, bytes] = task.sources[i]!;
          const address = task.addresses[at]!;
          const write = async (data: Uint8Array, offset: number): Promise<void> => {
            if (offset + data.length > bytes) throw new PeerError("BAD_ARGUMENT", `map ${map} at ${address} has more than the ${bytes} bytes announced`);
            await file.write(data, 0, data.length, starts[i]! + offset);
          };
          let got: number;
          const local = outputs.get(map);
          if (address === advertised && local !== undefined) {
            const from = local.offsets[task.task]!;
            await write(new Uint8Array(await Bun.file(local.path).slice(from, local.offsets[task.task + 1]!).arrayBuffer()), 0);
            got = local.offsets[task.task + 1]! - from;
          } else {
            got = await fetches.fetch(address, map, task.task, write);
          }
          if (got !== bytes) throw new PeerError("BAD_ARGUMENT", `map ${map} at ${address}: ${got} bytes, ${bytes} announced`);
        };
        const lane = async (): Promise<void> => {
          while (failure === null && next < task.sources.length) {
            const i = next++;
            try {
              await fetchOne(i);
            } catch (err) {
              const [map, at] = task.sources[i]!;
              failure ??= { map, address: task.addresses[at]!, error: ((err as Error).message ?? String(err)).slice(0, limits.errorMessageCharsMax) };
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(limits.fetchesInFlightMax, task.sources.length) }, lane));
        return failure;
      } finally {
        await file.close();
      }
    }

    async function failed(task: MapTask | ReduceTask, message: string): Promise<void> {
      const error = message.slice(0, limits.errorMessageCharsMax);
      await coordinator.call(mapreduce, "mr.failed", { kind: task.kind, task: task.task, attempt: task.attempt, error });
    }

    try {
      await coordinator.connect();
    } catch (err) {
      cleanUp();
      throw new ExitError("startup", `worker ${config.id}: cannot reach the coordinator: ${(err as Error).message}`);
    }
    void loop();
    return {
      done: life.done,
      stop: async () => {
        life.stopping = true; // our own close is not a lost coordinator
        await coordinator.close();
        cleanUp();
      },
    };
  },
};
