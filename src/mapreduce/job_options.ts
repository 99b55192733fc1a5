// The flags a MapReduce job takes, and their validation, shared by `mapreduce --sequential` and
// `--role coordinator`: a bad job is a one-line error before anything starts.

import { readFileSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { AppSpec } from "../../protocols/mapreduce.ts";
import { limits } from "../limits.ts";
import { UsageError } from "../runtime/exit.ts";
import type { Flags, FlagSpec } from "../runtime/flags.ts";
import { loadApp, type MapReduceApp } from "./app.ts";
import { expandInputs } from "./inputs.ts";

const MiB = 1024 * 1024;

export const jobFlags: FlagSpec[] = [
  { name: "input", type: "list", help: "input files or globs" },
  { name: "out", type: "string", valueName: "dir", help: "where mr-out-<r> files are written" },
  { name: "reduces", type: "int", valueName: "R", min: 1, max: limits.reducesMax, help: `reduce partitions (default ${limits.reducesDefault})` },
  { name: "app", type: "string", valueName: "wc|indexer|path", help: "the application (default wc)" },
  { name: "split-kb", type: "int", valueName: "N", min: limits.splitKbMin, max: limits.splitBytesCeiling / 1024, help: `target size of a map's input split (default ${limits.splitBytesMax / 1024}); cuts never split a word` },
];

/** Where reduces (a worker's, or the one-process run's) keep their groups before spilling to disk. */
export const spillFlag: FlagSpec = {
  name: "spill-mb", type: "int", valueName: "N", min: limits.spillMbMin, max: limits.spillMbMax,
  help: `intermediate data held in memory before it spills to disk in sorted runs (default ${limits.spillBytesDefault / MiB})`,
};

export function readSpillBytes(flags: Flags): number {
  return flags.int("spill-mb", limits.spillBytesDefault / MiB) * MiB;
}

export interface JobOptions {
  files: string[];
  /** Total size of the input files. */
  inputBytes: number;
  outDir: string;
  reduces: number;
  app: MapReduceApp;
  /** How workers get the app: a built-in name, or the module's source. */
  appSpec: AppSpec;
  splitBytes: number;
}

export async function readJobOptions(flags: Flags, what: string): Promise<JobOptions> {
  const patterns = flags.list("input");
  if (patterns.length === 0) throw new UsageError(`${what} needs --input <files or globs>`);
  const outDir = flags.string("out");
  if (outDir === undefined) throw new UsageError(`${what} needs --out DIR`);
  const appName = flags.string("app") ?? "wc";
  const files = expandInputs(patterns);
  const app = await loadApp(appName);
  const appSpec: AppSpec = appName === "wc" || appName === "indexer"
    ? { name: appName }
    : { name: "module", filename: basename(appName), source: readFileSync(resolve(appName), "utf8") };
  const inputBytes = files.reduce((n, f) => n + statSync(f).size, 0);
  const splitBytes = flags.int("split-kb", limits.splitBytesMax / 1024) * 1024;
  return { files, inputBytes, outDir, reduces: flags.int("reduces", limits.reducesDefault), app, appSpec, splitBytes };
}
