// Word count: a word is a maximal run of Unicode letters, case-sensitive; the value is its count.
// Values are counts, so combine (a sum) can fold them anywhere and reduce sums what is left.

import type { KeyValue, MapReduceApp } from "../app.ts";

const WORD = /\p{L}+/gu;

export const wcApp: MapReduceApp = {
  map(_filename: string, contents: string): KeyValue[] {
    // match() with the g flag gives the words as strings (matchAll makes a match object each).
    const words = contents.match(WORD) ?? [];
    const out: KeyValue[] = new Array(words.length);
    for (let i = 0; i < words.length; i++) out[i] = [words[i]!, "1"];
    return out;
  },
  reduce(_key: string, values: string[]): string {
    let sum = 0;
    for (const v of values) sum += Number(v);
    return String(sum);
  },
  combine(_key: string, values: string[]): string {
    let sum = 0;
    for (const v of values) sum += Number(v);
    return String(sum);
  },
};
