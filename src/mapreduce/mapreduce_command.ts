// `./node mapreduce --sequential --input <files or globs...> --out DIR [--reduces R] [--app …]`:
// the reference run in one process. The distributed roles (coordinator, worker) produce the same
// files.

import { ExitCode, UsageError } from "../runtime/exit.ts";
import type { CommandSpec } from "../runtime/role.ts";
import { jobFlags, readJobOptions, readSpillBytes, spillFlag } from "./job_options.ts";
import { runSequential } from "./sequential.ts";

export const mapreduceCommand: CommandSpec = {
  name: "mapreduce",
  summary: "run a MapReduce job in one process: mapreduce --sequential --input <files> --out DIR",
  flags: [{ name: "sequential", type: "boolean", help: "run every map and reduce in this process (the reference output)" }, ...jobFlags, spillFlag],
  async run(flags, _positionals, { terminal }) {
    if (!flags.bool("sequential")) throw new UsageError("mapreduce: only --sequential runs in one process; distributed: --role coordinator and --role worker");
    const job = await readJobOptions(flags, "mapreduce");
    let progress: ReturnType<typeof terminal.progress> | null = null;
    const started = performance.now();
    const result = await runSequential({
      ...job,
      spillBytes: readSpillBytes(flags),
      onProgress: (n, total) => (progress ??= terminal.progress("mapped", total)).update(n),
    });
    (progress as ReturnType<typeof terminal.progress> | null)?.finish();
    terminal.line(`sequential: ${job.files.length} file(s) in ${result.splits} split(s), ${result.keys} key(s), ${result.outputs.length} output file(s) in ${job.outDir}${result.spills > 0 ? `, ${result.spills} sorted run(s) spilled` : ""}, ${Math.round(performance.now() - started)} ms`);
    return ExitCode.ok;
  },
};
