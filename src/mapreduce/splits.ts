// Input splits: each file in byte ranges of about splitBytes, planned by streaming over the file
// (nothing holds a whole file), so the coordinator keeps only (file, start, end) per split and reads
// a split's bytes when it hands the map out. Pieces of one file keep the file's name.
//
// A cut never splits a word, whatever the line length: it goes after the last newline in the
// window; with none, after the last whitespace; with none of that either (one token longer than
// the window), after the first whitespace past it, so that token stays whole in one larger split.
// Every cut byte is ASCII, so a cut never lands inside a UTF-8 sequence.

import { open } from "node:fs/promises";
import { limits } from "../limits.ts";
import { ExitError } from "../runtime/exit.ts";
import { inputName } from "./inputs.ts";

export interface Split {
  /** The name the app sees (the path relative to the working directory). */
  file: string;
  /** Where the bytes are: the input file on the coordinator, the backup's spool after a takeover. */
  path: string;
  start: number;
  end: number;
}

const NEWLINE = 0x0a;
const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;

/** Plan the splits of `files`, in order, reading each file once in windows of splitBytes. */
export async function planSplits(files: readonly string[], splitBytes: number): Promise<Split[]> {
  const splits: Split[] = [];
  for (const path of files) {
    const file = inputName(path);
    const handle = await open(path, "r");
    try {
      const size = (await handle.stat()).size;
      let start = 0;
      while (start < size) {
        const end = await cutAfter(handle, start, size, splitBytes, path);
        splits.push({ file, path, start, end });
        start = end;
      }
    } finally {
      await handle.close();
    }
  }
  return splits;
}

/** The end of the split that starts at `start`. */
async function cutAfter(handle: Awaited<ReturnType<typeof open>>, start: number, size: number, splitBytes: number, path: string): Promise<number> {
  if (size - start <= splitBytes) return size;
  const window = Buffer.allocUnsafe(splitBytes);
  const { bytesRead } = await handle.read(window, 0, splitBytes, start);
  const bytes = window.subarray(0, bytesRead);
  const newline = bytes.lastIndexOf(NEWLINE);
  if (newline > 0) return start + newline + 1;
  for (let i = bytes.length - 1; i > 0; i--) if (isSpace(bytes[i]!)) return start + i + 1;
  // One token longer than the window: read on to its end.
  const chunk = Buffer.allocUnsafe(64 * 1024);
  for (let at = start + bytesRead; at < size; ) {
    const { bytesRead: n } = await handle.read(chunk, 0, chunk.length, at);
    if (n === 0) break;
    for (let i = 0; i < n; i++) if (isSpace(chunk[i]!)) return at + i + 1;
    at += n;
    if (at - start > limits.splitBytesCeiling) {
      throw new ExitError("startup", `${path}: ${at - start} bytes at offset ${start} without any whitespace; a split must fit in a task (at most ${limits.splitBytesCeiling} bytes)`);
    }
  }
  return size;
}

/** A split's text. */
export async function readSplit(split: Split): Promise<string> {
  return Bun.file(split.path).slice(split.start, split.end).text();
}
