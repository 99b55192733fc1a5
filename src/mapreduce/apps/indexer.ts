// Inverted index: word → "<count> <file1,file2,...>", the files that contain it, sorted.

import type { KeyValue, MapReduceApp } from "../app.ts";

const WORD = /\p{L}+/gu;

export const indexerApp: MapReduceApp = {
  map(filename: string, contents: string): KeyValue[] {
    const seen = new Set<string>();
    for (const match of contents.matchAll(WORD)) seen.add(match[0]);
    return [...seen].map((word): KeyValue => [word, filename]);
  },
  reduce(_key: string, values: string[]): string {
    const files = [...new Set(values)].sort();
    return `${files.length} ${files.join(",")}`;
  },
};
