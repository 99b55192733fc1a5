// Output files: DIR/mr-out-<r>, one "<key> <value>" line per key in key order, written atomically
// (temp file + rename) so a reader never sees a partial file.

import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

export function outputPath(dir: string, partition: number): string {
  return join(dir, `mr-out-${partition}`);
}

/** Group values by key and reduce each key, in key order (code-unit order, like Go's sort.Strings). */
export function reduceAll(pairs: Iterable<[string, string]>, reduce: (key: string, values: string[]) => string): string {
  const groups = new Map<string, string[]>();
  for (const [key, value] of pairs) {
    const values = groups.get(key);
    if (values === undefined) groups.set(key, [value]);
    else values.push(value);
  }
  return reduceGroups(groups, reduce);
}

/** Reduce already-grouped values, in key order. */
export function reduceGroups(groups: Map<string, string[]>, reduce: (key: string, values: string[]) => string): string {
  const keys = [...groups.keys()].sort();
  let text = "";
  for (const key of keys) text += `${key} ${reduce(key, groups.get(key)!)}\n`;
  return text;
}

export async function writeAtomic(path: string, contents: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(temp, contents);
  await rename(temp, path);
}
