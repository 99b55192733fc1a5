// `./node mapreduce --sequential --input <files or globs...> --out DIR [--reduces R] [--app …]`:
// the reference run in one process. The distributed roles (coordinator, worker) produce the same
// files.

import { Progress } from "../cli/progress.ts";
import type { CommandSpec } from "../cli/role.ts";
import { UsageError } from "../cli/usage_error.ts";
import { jobFlags, readJobOptions } from "./job_options.ts";
import { runSequential } from "./sequential.ts";

export const mapreduceCommand: CommandSpec = {
  name: "mapreduce",
  summary: "run a MapReduce job in one process: mapreduce --sequential --input <files> --out DIR",
  flags: [{ name: "sequential", type: "boolean", help: "run every map and reduce in this process (the reference output)" }, ...jobFlags],
  async run(flags) {
    if (!flags.bool("sequential")) throw new UsageError("mapreduce: only --sequential runs in one process; distributed: --role coordinator and --role worker");
    const job = await readJobOptions(flags, "mapreduce");
    const progress = new Progress("mapped", job.files.length);
    const started = performance.now();
    const result = await runSequential({ ...job, onProgress: (n) => progress.update(n) });
    progress.finish();
    process.stdout.write(`sequential: ${job.files.length} file(s), ${result.keys} key(s), ${result.outputs.length} output file(s) in ${job.outDir}, ${Math.round(performance.now() - started)} ms\n`);
    return 0;
  },
};
