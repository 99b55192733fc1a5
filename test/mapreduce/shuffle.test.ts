// Goal: the shuffle's local mechanics (src/mapreduce/shuffle.ts) give exactly what a plain
// in-memory group-by gives, whatever the spill bound, the combine, or the size of a key's value
// list. Method: fast-check against a reference written here (a Map and a sort), with tiny bounds so
// every run spills many times; files in a temp dir.

import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MapReduceApp } from "../../src/mapreduce/app.ts";
import { fnv1a32, partitionOf } from "../../src/mapreduce/partition.ts";
import { Accumulator, mapToFile, mergeRuns, readRecords, RecordWriter, type Group } from "../../src/mapreduce/shuffle.ts";

const dir = mkdtempSync(join(tmpdir(), "peer-node-shuffle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `f${n++}`);

const listApp: MapReduceApp = { map: () => [], reduce: (_k, vs) => vs.join(",") };
const sumApp: MapReduceApp = {
  map: () => [],
  reduce: (_k, vs) => String(vs.reduce((s, v) => s + Number(v), 0)),
  combine: (_k, vs) => String(vs.reduce((s, v) => s + Number(v), 0)),
};

/** The reference: group by key, keys in code-unit order, values in arrival order. */
function reference(pairs: Array<[string, string]>): Group[] {
  const groups = new Map<string, string[]>();
  for (const [k, v] of pairs) groups.set(k, [...(groups.get(k) ?? []), v]);
  return [...groups.keys()].sort().map((k) => [k, groups.get(k)!]);
}

const key = fc.oneof(fc.constantFrom("a", "b", "é", "z", "aa", ""), fc.string({ maxLength: 6 }), fc.string({ unit: "grapheme", maxLength: 4 }));

describe("records", () => {
  test("a key with more values than one record holds comes back whole, across several records", () => {
    const path = fresh();
    const values = Array.from({ length: 50_000 }, (_, i) => `value-${i}-${"x".repeat(i % 17)}`);
    const writer = new RecordWriter(path);
    writer.write("hot", values);
    writer.write("cold", []);
    writer.close();
    const records = [...readRecords(path)];
    expect(records.length).toBeGreaterThan(2); // split into several records
    expect(records.filter(([k]) => k === "hot").flatMap(([, v]) => v)).toEqual(values);
    expect(records.at(-1)).toEqual(["cold", []]);
  });
});

describe("Accumulator", () => {
  test("any spill bound gives the in-memory group-by: keys sorted, each key once, values in arrival order", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, fc.string({ maxLength: 8 })), { maxLength: 300 }), fc.integer({ min: 1, max: 2_000 }), (pairs, spillBytes) => {
        const acc = new Accumulator(listApp, spillBytes, dir, `p${n++}`);
        for (const [k, v] of pairs) acc.add(k, [v]);
        expect([...acc.merged()]).toEqual(reference(pairs));
      }),
      { numRuns: 150 },
    );
  });

  test("with a combine, sums agree with the reference whatever the spill bound", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, fc.integer({ min: 0, max: 9 })), { maxLength: 400 }), fc.integer({ min: 1, max: 1_000 }), (pairs, spillBytes) => {
        const acc = new Accumulator(sumApp, spillBytes, dir, `c${n++}`);
        for (const [k, v] of pairs) acc.add(k, [String(v)]);
        const got = [...acc.merged()].map(([k, vs]) => [k, sumApp.reduce(k, vs)]);
        const want = reference(pairs.map(([k, v]) => [k, String(v)])).map(([k, vs]) => [k, sumApp.reduce(k, vs)]);
        expect(got).toEqual(want);
      }),
      { numRuns: 150 },
    );
  });
});

describe("map output and merge", () => {
  test("a map's output file: each partition holds exactly its keys, sorted; merging several maps in order equals one group-by", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.tuple(key, fc.string({ maxLength: 5 })), { maxLength: 80 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 4 }), (maps, reduces) => {
        const files = maps.map((pairs) => {
          const app: MapReduceApp = { map: () => pairs, reduce: listApp.reduce };
          const path = fresh();
          return { path, offsets: mapToFile(app, "f", "", reduces, path) };
        });
        for (let r = 0; r < reduces; r++) {
          const streams = files.map(({ path, offsets }) => readRecords(path, offsets[r]!, offsets[r + 1]!));
          const merged = [...mergeRuns(streams)];
          const want = reference(maps.flat().filter(([k]) => partitionOf(k, reduces) === r));
          expect(merged).toEqual(want);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe("partitioning", () => {
  test("fnv1a32 is FNV-1a of the key's UTF-8 bytes as TextEncoder makes them (lone surrogates too)", () => {
    const reference = (text: string): number => {
      let hash = 0x811c9dc5;
      for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
      return hash >>> 0;
    };
    fc.assert(fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" })), (s) => fnv1a32(s) === reference(s)), { numRuns: 5_000 });
  });
});
