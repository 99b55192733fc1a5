// Goal: splits never cut a word, whatever the line length, and cover every byte exactly once.
// Method: files written here (a 600 KiB line without a newline, a token longer than a split,
// multi-byte characters at every offset), planned with small split sizes, checked byte by byte.

import { afterAll, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planSplits, readSplit } from "../../src/mapreduce/splits.ts";

const dir = mkdtempSync(join(tmpdir(), "peer-node-splits-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every split ends at the file's end or just after an ASCII whitespace byte, and together they are the file. */
async function checkSplits(path: string, splitBytes: number): Promise<number> {
  const bytes = readFileSync(path);
  const splits = await planSplits([path], splitBytes);
  let at = 0;
  for (const s of splits) {
    expect(s.start).toBe(at);
    expect(s.end).toBeGreaterThan(s.start);
    if (s.end < bytes.length) expect([0x20, 0x0a, 0x09, 0x0d, 0x0b, 0x0c]).toContain(bytes[s.end - 1]!);
    at = s.end;
  }
  expect(at).toBe(bytes.length);
  const texts = await Promise.all(splits.map(readSplit));
  expect(texts.join("")).toBe(bytes.toString("utf8"));
  return splits.length;
}

test("a 600 KiB line without a newline is cut at spaces, never inside a word", async () => {
  const words = ["whale", "Ishmael", "naïve", "über", "東京", "sea"];
  let line = "";
  for (let i = 0; line.length < 600 * 1024; i++) line += `${words[i % words.length]} `;
  const path = join(dir, "long-line.txt");
  writeFileSync(path, line);
  expect(await checkSplits(path, 64 * 1024)).toBeGreaterThan(8);
  // Word counts over the splits equal the whole file's: no word was split in two.
  const splits = await planSplits([path], 64 * 1024);
  const count = (text: string): number => (text.match(/\p{L}+/gu) ?? []).length;
  const perSplit = (await Promise.all(splits.map(readSplit))).reduce((n, t) => n + count(t), 0);
  expect(perSplit).toBe(count(line));
});

test("a token longer than a split stays whole in one larger split", async () => {
  const path = join(dir, "token.txt");
  writeFileSync(path, `short words ${"y".repeat(200_000)} end of text\n`);
  await checkSplits(path, 16 * 1024);
  const splits = await planSplits([path], 16 * 1024);
  const texts = await Promise.all(splits.map(readSplit));
  expect(texts.some((t) => t.includes("y".repeat(200_000)))).toBe(true);
});

test("random texts and split sizes: splits cover the file exactly, each cut after whitespace", async () => {
  const piece = fc.oneof(fc.constantFrom(" ", "\n", "\t", "é", "東", "😀", "word", "x"), fc.string({ maxLength: 6 }));
  await fc.assert(
    fc.asyncProperty(fc.array(piece, { maxLength: 400 }), fc.integer({ min: 4, max: 64 }), async (pieces, splitBytes) => {
      const path = join(dir, "random.txt");
      writeFileSync(path, pieces.join(""));
      if (pieces.join("").length > 0) await checkSplits(path, splitBytes);
    }),
    { numRuns: 100 },
  );
});
