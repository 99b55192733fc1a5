// Expand --input arguments (files or globs) into an ordered, de-duplicated list of files. A
// missing file or a glob that matches nothing is an error, before anything starts.

import { statSync } from "node:fs";
import { resolve } from "node:path";
import { Glob } from "bun";

export class InputError extends Error {
  override readonly name = "InputError";
}

export function expandInputs(patterns: readonly string[], cwd = process.cwd()): string[] {
  const files: string[] = [];
  for (const pattern of patterns) {
    if (/[*?[{]/.test(pattern)) {
      const matched = [...new Glob(pattern).scanSync({ cwd, onlyFiles: true })].sort();
      if (matched.length === 0) throw new InputError(`--input: "${pattern}" matches no file`);
      files.push(...matched.map((f) => resolve(cwd, f)));
      continue;
    }
    const path = resolve(cwd, pattern);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      throw new InputError(`--input: no such file: ${pattern}`);
    }
    if (!isFile) throw new InputError(`--input: not a file: ${pattern}`);
    files.push(path);
  }
  return [...new Set(files)];
}
