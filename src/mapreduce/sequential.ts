// The reference run: every map and reduce in this one process, with the same partitioning and the
// same output files (DIR/mr-out-<r>) that the distributed run must reproduce.

import { mkdir } from "node:fs/promises";
import { relative } from "node:path";
import type { KeyValue, MapReduceApp } from "./app.ts";
import { outputPath, reduceAll, writeAtomic } from "./output.ts";
import { partitionOf } from "./partition.ts";

export interface SequentialOptions {
  files: string[];
  outDir: string;
  reduces: number;
  app: MapReduceApp;
  onProgress?: (mapped: number, total: number) => void;
}

/** The name an app sees for a file: its path relative to the working directory. */
export function inputName(path: string): string {
  return relative(process.cwd(), path) || path;
}

/** Thrown when the app's map or reduce throws: carries the app's own message. */
export class AppFailure extends Error {
  override readonly name = "AppFailure";
}

export async function runSequential(options: SequentialOptions): Promise<{ keys: number; outputs: string[] }> {
  const { files, reduces, app } = options;
  const partitions: KeyValue[][] = Array.from({ length: reduces }, () => []);
  for (let i = 0; i < files.length; i++) {
    const name = inputName(files[i]!);
    const contents = await Bun.file(files[i]!).text();
    let pairs: KeyValue[];
    try {
      pairs = app.map(name, contents);
    } catch (err) {
      throw new AppFailure(`map of ${name} failed: ${(err as Error).message}`);
    }
    for (const pair of pairs) partitions[partitionOf(pair[0], reduces)]!.push(pair);
    options.onProgress?.(i + 1, files.length);
  }
  await mkdir(options.outDir, { recursive: true });
  const outputs: string[] = [];
  let keys = 0;
  for (let r = 0; r < reduces; r++) {
    let text: string;
    try {
      text = reduceAll(partitions[r]!, (key, values) => app.reduce(key, values));
    } catch (err) {
      throw new AppFailure(`reduce of partition ${r} failed: ${(err as Error).message}`);
    }
    keys += text === "" ? 0 : text.split("\n").length - 1;
    const path = outputPath(options.outDir, r);
    await writeAtomic(path, text);
    outputs.push(path);
  }
  return { keys, outputs };
}
