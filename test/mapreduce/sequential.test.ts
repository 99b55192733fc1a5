// Goal: the MapReduce reference pieces are right: wc and indexer follow their definitions (Unicode
// letters, case-sensitive), keys land in partition hash(key) mod R, outputs are the same whatever
// R is, and bad input is a one-line error before anything starts. Method: the functions directly,
// and `./node mapreduce --sequential` as a real process on files in a temp dir.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { indexerApp } from "../../src/mapreduce/apps/indexer.ts";
import { wcApp } from "../../src/mapreduce/apps/wc.ts";
import { fnv1a32, partitionOf } from "../../src/mapreduce/partition.ts";
import { NodeProcess, killAll, REPO_ROOT } from "../harness/node_process.ts";

const dir = mkdtempSync(join(tmpdir(), "peer-node-mr-"));
afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

writeFileSync(join(dir, "a.txt"), "Hello world, hello World!\nÜnïcode ünïcode ß 123 a-b\n");
writeFileSync(join(dir, "b.txt"), "world again, and again\n");

async function mapreduce(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const node = await NodeProcess.start(["mapreduce", ...args], { waitListening: false, cwd: dir });
  const code = await node.exited;
  await Bun.sleep(20);
  return { code, stdout: node.stdout, stderr: node.stderr };
}

function outputLines(out: string): string[] {
  return readdirSync(out)
    .filter((f) => f.startsWith("mr-out-"))
    .flatMap((f) => readFileSync(join(out, f), "utf8").split("\n").filter(Boolean))
    .sort();
}

describe("apps", () => {
  test("wc: words are maximal runs of Unicode letters, case-sensitive", () => {
    const words = wcApp.map("x", "Hello, hello! Ünïcode-ß 42 don't").map(([k]) => k);
    expect(words).toEqual(["Hello", "hello", "Ünïcode", "ß", "don", "t"]);
    expect(wcApp.reduce("hello", ["1", "1", "1"])).toBe("3");
  });

  test("indexer: each word once per file; reduce gives count and sorted files", () => {
    expect(indexerApp.map("f1", "a b a").sort()).toEqual([["a", "f1"], ["b", "f1"]]);
    expect(indexerApp.reduce("a", ["f2", "f1", "f2"])).toBe("2 f1,f2");
  });
});

describe("partitioning", () => {
  test("FNV-1a matches known vectors and partitions are in range", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
    for (const key of ["x", "ünïcode", "日本語"]) {
      const p = partitionOf(key, 7);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(7);
    }
  });
});

describe("./node mapreduce --sequential", () => {
  test("wc over a glob: every key in partition hash(key) mod R, union = the expected counts", async () => {
    const { code, stdout } = await mapreduce(["--sequential", "--input", "*.txt", "--out", "wc", "--reduces", "3"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/sequential: 2 file\(s\) in 2 split\(s\), 11 key\(s\), 3 output file\(s\)/);
    expect(outputLines(join(dir, "wc"))).toEqual(
      ["Hello 1", "World 1", "a 1", "again 2", "and 1", "b 1", "hello 1", "world 2", "Ünïcode 1", "ß 1", "ünïcode 1"].sort(),
    );
    for (let r = 0; r < 3; r++) {
      for (const line of readFileSync(join(dir, "wc", `mr-out-${r}`), "utf8").split("\n").filter(Boolean)) {
        expect(partitionOf(line.split(" ")[0]!, 3)).toBe(r);
      }
    }
  });

  test("the union of outputs does not depend on R", async () => {
    await mapreduce(["--sequential", "--input", "a.txt", "b.txt", "--out", "r1", "--reduces", "1"]);
    await mapreduce(["--sequential", "--input", "a.txt", "b.txt", "--out", "r7", "--reduces", "7"]);
    expect(outputLines(join(dir, "r7"))).toEqual(outputLines(join(dir, "r1")));
    expect(readdirSync(join(dir, "r7")).filter((f) => f.startsWith("mr-out-"))).toHaveLength(7);
  });

  test("indexer: word → count and sorted files", async () => {
    const { code } = await mapreduce(["--sequential", "--input", "a.txt", "b.txt", "--out", "idx", "--app", "indexer", "--reduces", "2"]);
    expect(code).toBe(0);
    const lines = outputLines(join(dir, "idx"));
    expect(lines).toContain("world 2 a.txt,b.txt");
    expect(lines).toContain("again 1 b.txt");
  });

  test("a user app is loaded by path", async () => {
    const { code } = await mapreduce(["--sequential", "--input", "a.txt", "--out", "user", "--app", join(REPO_ROOT, "test/fixtures/upper_app.ts"), "--reduces", "1"]);
    expect(code).toBe(0);
    expect(outputLines(join(dir, "user"))).toContain("HELLO 2");
  });

  test.each([
    [["--sequential", "--input", "missing.txt", "--out", "x"], /--input: no such file: missing\.txt/],
    [["--sequential", "--input", "*.nope", "--out", "x"], /"\*\.nope" matches no file/],
    [["--sequential", "--input", "a.txt", "--out", "x", "--reduces", "0"], /--reduces: 0 is below the minimum 1/],
    [["--sequential", "--input", "a.txt", "--out", "x", "--app", "nosuchapp"], /no built-in app "nosuchapp"/],
    [["--sequential", "--input", "a.txt", "--out", "x", "--app", join(REPO_ROOT, "test/fixtures/broken_app.ts")], /does not export reduce as a function/],
    [["--sequential", "--input", "a.txt"], /needs --out DIR/],
    [["--input", "a.txt", "--out", "x"], /only --sequential runs in one process/],
  ])("%p → one-line error, exit 2, nothing written", async (args, pattern) => {
    const { code, stderr } = await mapreduce(args as string[]);
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(pattern as RegExp);
    expect(() => readdirSync(join(dir, "x"))).toThrow();
  });

  test("a map that throws fails the job with the app's message, exit 4 (job failed)", async () => {
    const { code, stderr } = await mapreduce(["--sequential", "--input", "a.txt", "--out", "thrown", "--app", join(REPO_ROOT, "test/fixtures/throwing_app.ts")]);
    expect(code).toBe(4);
    expect(stderr).toMatch(/map of a\.txt \(bytes 0\.\.\d+\) failed: cannot parse a\.txt/);
  });
});
