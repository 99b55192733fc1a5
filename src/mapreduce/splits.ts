// Input splits: each file in pieces of at most splitBytesMax, cut at line ends, so one map task's
// input and output fit comfortably in frames. Pieces of one file keep the file's name.

import type { Split } from "./job.ts";
import { inputName } from "./sequential.ts";

export async function readSplits(files: readonly string[], splitBytesMax: number): Promise<Split[]> {
  const splits: Split[] = [];
  for (const path of files) {
    const text = await Bun.file(path).text();
    const file = inputName(path);
    if (text.length <= splitBytesMax) {
      splits.push({ file, contents: text });
      continue;
    }
    let start = 0;
    while (start < text.length) {
      let end = Math.min(text.length, start + splitBytesMax);
      if (end < text.length) {
        const newline = text.lastIndexOf("\n", end);
        if (newline > start) end = newline + 1;
      }
      splits.push({ file, contents: text.slice(start, end) });
      start = end;
    }
  }
  return splits;
}
