// `./node mapreduce --sequential --input <files or globs...> --out DIR [--reduces R] [--app …]`:
// the reference run in one process. (The distributed roles — coordinator, backup, worker — are
// issue 4's next step; they must produce the same files.)

import type { CommandSpec } from "../cli/role.ts";
import { Progress } from "../cli/progress.ts";
import { UsageError } from "../cli/usage_error.ts";
import { AppError, loadApp } from "./app.ts";
import { expandInputs, InputError } from "./inputs.ts";
import { runSequential } from "./sequential.ts";

export const REDUCES_DEFAULT = 10;
const REDUCES_MAX = 1_000;

export const mapreduceCommand: CommandSpec = {
  name: "mapreduce",
  summary: "run a MapReduce job in one process: mapreduce --sequential --input <files> --out DIR",
  flags: [
    { name: "sequential", type: "boolean", help: "run every map and reduce in this process (the reference output)" },
    { name: "input", type: "list", help: "input files or globs" },
    { name: "out", type: "string", valueName: "dir", help: "where mr-out-<r> files are written" },
    { name: "reduces", type: "int", valueName: "R", min: 1, max: REDUCES_MAX, help: `reduce partitions (default ${REDUCES_DEFAULT})` },
    { name: "app", type: "string", valueName: "wc|indexer|path", help: "the application (default wc)" },
  ],
  async run(flags) {
    if (!flags.bool("sequential")) throw new UsageError("mapreduce: only --sequential is available in this version (the distributed roles come next)");
    const patterns = flags.list("input");
    if (patterns.length === 0) throw new UsageError("mapreduce needs --input <files or globs>");
    const outDir = flags.string("out");
    if (outDir === undefined) throw new UsageError("mapreduce needs --out DIR");
    let files: string[];
    let app;
    try {
      files = expandInputs(patterns);
      app = await loadApp(flags.string("app") ?? "wc");
    } catch (err) {
      if (err instanceof InputError || err instanceof AppError) throw new UsageError(err.message);
      throw err;
    }
    const progress = new Progress("mapped", files.length);
    const started = performance.now();
    const result = await runSequential({ files, outDir, reduces: flags.int("reduces", REDUCES_DEFAULT), app, onProgress: (n) => progress.update(n) });
    progress.finish();
    process.stdout.write(`sequential: ${files.length} file(s), ${result.keys} key(s), ${result.outputs.length} output file(s) in ${outDir}, ${Math.round(performance.now() - started)} ms\n`);
    return 0;
  },
};
