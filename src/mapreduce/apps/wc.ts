// Word count: a word is a maximal run of Unicode letters, case-sensitive; the value is its count.

import type { KeyValue, MapReduceApp } from "../app.ts";

const WORD = /\p{L}+/gu;

export const wcApp: MapReduceApp = {
  map(_filename: string, contents: string): KeyValue[] {
    const out: KeyValue[] = [];
    for (const match of contents.matchAll(WORD)) out.push([match[0], "1"]);
    return out;
  },
  reduce(_key: string, values: string[]): string {
    return String(values.length);
  },
};
