// The flags a MapReduce job takes, and their validation, shared by `mapreduce --sequential` and
// `--role coordinator`: a bad job is a one-line error before anything starts.

import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { AppSpec } from "../../protocols/mapreduce.ts";
import type { Flags, FlagSpec } from "../cli/args.ts";
import { UsageError } from "../cli/usage_error.ts";
import { AppError, BUILT_IN_APPS, loadApp, type MapReduceApp } from "./app.ts";
import { expandInputs, InputError } from "./inputs.ts";

export const REDUCES_DEFAULT = 10;
const REDUCES_MAX = 1_000;

export const jobFlags: FlagSpec[] = [
  { name: "input", type: "list", help: "input files or globs" },
  { name: "out", type: "string", valueName: "dir", help: "where mr-out-<r> files are written" },
  { name: "reduces", type: "int", valueName: "R", min: 1, max: REDUCES_MAX, help: `reduce partitions (default ${REDUCES_DEFAULT})` },
  { name: "app", type: "string", valueName: "wc|indexer|path", help: "the application (default wc)" },
];

export interface JobOptions {
  files: string[];
  outDir: string;
  reduces: number;
  app: MapReduceApp;
  /** How workers get the app: a built-in name, or the module's source. */
  appSpec: AppSpec;
}

export async function readJobOptions(flags: Flags, what: string): Promise<JobOptions> {
  const patterns = flags.list("input");
  if (patterns.length === 0) throw new UsageError(`${what} needs --input <files or globs>`);
  const outDir = flags.string("out");
  if (outDir === undefined) throw new UsageError(`${what} needs --out DIR`);
  const appName = flags.string("app") ?? "wc";
  try {
    const files = expandInputs(patterns);
    const app = await loadApp(appName);
    const appSpec: AppSpec = BUILT_IN_APPS[appName] !== undefined
      ? { name: appName as "wc" | "indexer" }
      : { name: "module", filename: basename(appName), source: readFileSync(resolve(appName), "utf8") };
    return { files, outDir, reduces: flags.int("reduces", REDUCES_DEFAULT), app, appSpec };
  } catch (err) {
    if (err instanceof InputError || err instanceof AppError) throw new UsageError(err.message);
    throw err;
  }
}
