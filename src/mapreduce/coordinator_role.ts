// `./node --role coordinator --listen host:port --input <files…> --out DIR [--reduces R]
// [--app wc|indexer|path] [--task-timeout-ms N]`: splits the input and runs the job (Coordinator);
// a backup (`--role backup --connect <this>`) may register at any time.

import type { RoleSpec } from "../cli/role.ts";
import { limits } from "../limits.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import { serve } from "../runtime/serve.ts";
import { Coordinator } from "./coordinator.ts";
import { Job } from "./job.ts";
import { jobFlags, readJobOptions } from "./job_options.ts";
import { readSplits } from "./splits.ts";

export const COORDINATOR_PORT_DEFAULT = 4810;

const taskTimeoutFlag = { name: "task-timeout-ms", type: "int", valueName: "N", min: 100, max: 3_600_000, help: `reissue a task silent this long (default ${limits.taskTimeoutMs})` } as const;

export const coordinatorRole: RoleSpec = {
  name: "coordinator",
  summary: "MapReduce coordinator: hands map and reduce tasks to workers, survives their crashes",
  flags: [...jobFlags, taskTimeoutFlag],
  defaultListen: { host: "127.0.0.1", port: COORDINATOR_PORT_DEFAULT },
  needsConnect: false,
  async start(config, flags) {
    const options = await readJobOptions(flags, "--role coordinator");
    if (!flags.has("frame-bytes-max")) config.frameBytesMax = limits.mapreduceFrameBytesMax;
    const startedMs = performance.now();
    const taskTimeoutMs = flags.int("task-timeout-ms", limits.taskTimeoutMs);
    const job = new Job(await readSplits(options.files, limits.splitBytesMax), options.reduces, taskTimeoutMs, limits.taskAttemptsMax);
    const handlers = new HandlerTable();
    const server = serve(config, handlers);
    const coordinator = new Coordinator({ job, outDir: options.outDir, app: options.appSpec, taskTimeoutMs, server, handlers, log: config.log, takeovers: 0, startedMs });
    await coordinator.begin();
    config.log.info("job", { splits: job.splits.length, reduces: options.reduces, out: options.outDir });
    return { done: coordinator.done, stop: () => coordinator.stop() };
  },
};
