// Output files: DIR/mr-out-<r>, one "<key> <value>" line per key in key order (shuffle.ts writes
// them), published atomically (temp file + rename) so a reader never sees a partial file.

import { readdirSync, readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

export function outputPath(dir: string, partition: number): string {
  return join(dir, `mr-out-${partition}`);
}

export async function writeAtomic(path: string, contents: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(temp, contents);
  await rename(temp, path);
}

/** Every line of every mr-out-<r> in `dir`, sorted: the job's output, whatever R (demo, tests, bench). */
export function readOutputLines(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^mr-out-\d+$/.test(f))
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean))
    .sort();
}
