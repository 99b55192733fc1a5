// `./node --role coordinator --listen host:port --input <files…> --out DIR [--reduces R]
// [--app wc|indexer|path] [--task-timeout-ms N]`: plans the splits (byte ranges of the input) and
// runs the job (Coordinator); a backup (`--role backup --connect <this>`) may register at any time.

import { limits } from "../limits.ts";
import { ExitCode } from "../runtime/exit.ts";
import type { FlagSpec } from "../runtime/flags.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import type { NodeConfig } from "../runtime/node_config.ts";
import { RoleLife, type RoleSpec } from "../runtime/role.ts";
import { serve } from "../runtime/serve.ts";
import { Coordinator } from "./coordinator.ts";
import { Job } from "./job.ts";
import { jobFlags, readJobOptions } from "./job_options.ts";
import { planSplits } from "./splits.ts";

const taskTimeoutFlag: FlagSpec = { name: "task-timeout-ms", type: "int", valueName: "N", min: limits.taskTimeoutMsMin, max: limits.taskTimeoutMsMax, help: `reissue a task silent this long (default ${limits.taskTimeoutMs})` };

export const coordinatorRole: RoleSpec = {
  name: "coordinator",
  summary: "MapReduce coordinator: hands map and reduce tasks to workers, survives their crashes",
  flags: [...jobFlags, taskTimeoutFlag],
  defaultListen: { host: "127.0.0.1", port: limits.coordinatorPortDefault },
  needsConnect: false,
  frameBytesMax: limits.mapreduceFrameBytesMax,
  async start(config, flags) {
    const options = await readJobOptions(flags, "--role coordinator");
    const startedMs = performance.now();
    const taskTimeoutMs = flags.int("task-timeout-ms", limits.taskTimeoutMs);
    const job = new Job(await planSplits(options.files, options.splitBytes), options.reduces, taskTimeoutMs, limits.taskAttemptsMax);
    const handlers = new HandlerTable();
    const server = serve(config, handlers);
    const coordinator = new Coordinator({ job, outDir: options.outDir, app: options.appSpec, taskTimeoutMs, server, handlers, takeovers: 0 });
    const life = new RoleLife();
    showCoordinator(coordinator, config, life, startedMs, options.outDir);
    await coordinator.begin();
    config.log.info("job", { splits: job.splits.length, reduces: options.reduces, out: options.outDir });
    return { done: life.done, stop: () => coordinator.stop() };
  },
};

/** Render a coordinator's events (the coordinator role's, or a backup's after its takeover) and end `life` with the job. */
export function showCoordinator(coordinator: Coordinator, config: NodeConfig, life: RoleLife, startedMs: number, outDir: string): void {
  const { log, terminal } = config;
  const first = coordinator.status();
  const progress = terminal.progress("mapreduce", first.maps + first.reduces);
  coordinator.on("progress", (s) => {
    const workers = s.workers > 0 || s.noWorkersMs < limits.noWorkersWarnMs ? `workers ${s.workers}` : `NO WORKERS for ${Math.round(s.noWorkersMs / 1000)} s`;
    progress.update(s.mapsDone + s.reducesDone, `maps ${s.mapsDone}/${s.maps} reduces ${s.reducesDone}/${s.reduces} ${workers} reassigned ${s.reassignments}${s.mapsLost > 0 ? ` maps re-run ${s.mapsLost}` : ""}`);
  });
  coordinator.on("backup-registered", (backup) => log.info("backup-registered", { backup }));
  coordinator.on("backup-in-sync", (backup) => log.info("backup-in-sync", { backup }));
  coordinator.on("backup-lost", (backup) => log.warn("backup-lost", { backup }));
  coordinator.on("backup-mirror-failed", (backup, error) => log.warn("backup-mirror-failed", { backup, error }));
  coordinator.on("worker-lost", (worker, tasksReleased, mapsLost) => log.warn("worker-lost", { worker, tasksReleased, mapsLost }));
  coordinator.on("fetch-failed", (f) => log.warn("fetch-failed", f));
  coordinator.on("no-workers", (forMs) => log.warn("no-workers", { forMs, hint: "start workers with --connect <this address>" }));
  coordinator.on("task-failed", (f) => log.warn("task-failed", f));
  // The done line comes as soon as the outputs are final; the process may stay a few seconds more
  // for workers of the job that are not connected (they are told to exit when they come by).
  coordinator.on("final", ({ code, waitingFor }) => {
    progress.finish();
    if (code !== ExitCode.ok) return;
    const s = coordinator.status();
    const seconds = ((performance.now() - startedMs) / 1000).toFixed(2);
    terminal.line(`done: ${s.maps} map and ${s.reduces} reduce tasks in ${seconds} s; ${s.reassignments} reassigned, ${s.retries} retried, ${s.takeovers} takeover(s); output in ${outDir}`);
    if (waitingFor.length > 0) log.info("lingering", { forMs: limits.exitLingerMs, workers: waitingFor.join(","), why: "not connected now; told to exit if they come by" });
  });
  coordinator.on("ended", ({ code, failure }) => {
    if (code === ExitCode.ok) life.end(code);
    else life.end(code, `job failed: ${failure}`);
  });
}
