// Expand --input arguments (files or globs) into an ordered, de-duplicated list of files. A
// missing file or a glob that matches nothing is an error, before anything starts.

import { statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { Glob } from "bun";
import { UsageError } from "../runtime/exit.ts";

export function expandInputs(patterns: readonly string[], cwd = process.cwd()): string[] {
  const files: string[] = [];
  for (const pattern of patterns) {
    if (/[*?[{]/.test(pattern)) {
      const matched = [...new Glob(pattern).scanSync({ cwd, onlyFiles: true })].sort();
      if (matched.length === 0) throw new UsageError(`--input: "${pattern}" matches no file`);
      files.push(...matched.map((f) => resolve(cwd, f)));
      continue;
    }
    const path = resolve(cwd, pattern);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      throw new UsageError(`--input: no such file: ${pattern}`);
    }
    if (!isFile) throw new UsageError(`--input: not a file: ${pattern}`);
    files.push(path);
  }
  return [...new Set(files)];
}

/** The name an app sees for a file: its path relative to the working directory. */
export function inputName(path: string): string {
  return relative(process.cwd(), path) || path;
}
