// Goal: intermediate data lives where real MapReduce keeps it — on the workers' disks — so the
// coordinator and the backup hold metadata only whatever the job's size, and a reduce larger than
// its memory bound spills sorted runs and still gives the exact output. Method: an app whose map
// output is ~100x its input (test/fixtures/blowup_app.ts), real processes, peak RSS (VmHWM) read
// from /proc; word counts computed here as the reference.

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../../src/runtime/exit.ts";
import { readOutputLines } from "../../src/mapreduce/output.ts";
import { killAll, NodeProcess, REPO_ROOT } from "../harness/node_process.ts";

afterEach(killAll);
const dir = mkdtempSync(join(tmpdir(), "peer-node-memory-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The output of a job written to `out` under the test's directory. */
const outputLines = (out: string): string[] => readOutputLines(join(dir, out));

const BLOWUP = join(REPO_ROOT, "test/fixtures/blowup_app.ts");
// 20 files of 1,000 lines "w<i> alpha beta gamma delta": 100,000 words, 540 KB of input.
for (let i = 0; i < 20; i++) writeFileSync(join(dir, `part-${i}.txt`), `w${i} alpha beta gamma delta\n`.repeat(1_000));
writeFileSync(join(dir, "one.txt"), "alpha beta gamma delta\n".repeat(50));

/** The blowup app's output (reduce = number of values) computed here: each word's count. */
function expectedCounts(): string[] {
  const counts = new Map<string, number>();
  for (let i = 0; i < 20; i++) for (const w of [`w${i}`, "alpha", "beta", "gamma", "delta"]) counts.set(w, (counts.get(w) ?? 0) + 1_000);
  return [...counts].map(([w, n]) => `${w} ${n}`).sort();
}


/** Peak resident memory of a live process, in MB. */
function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
}

test("100 MB of map output stays on the workers: coordinator and backup peak RSS stay flat, reduces spill, output exact", async () => {
  const env = { BLOWUP_VALUE_BYTES: "1000" }; // 100,000 values of 1 KB: ~100 MB of intermediate data
  const coord = await NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "part-*.txt", "--out", "big", "--reduces", "3", "--app", BLOWUP, "--heartbeat-ms", "200"], { cwd: dir, env });
  const backup = await NodeProcess.start(["--role", "backup", "--connect", coord.address, "--listen", "127.0.0.1:0", "--heartbeat-ms", "200"], { cwd: dir, env });
  await coord.waitForLog(/backup-in-sync/, 10_000);
  const workers = await Promise.all(["w1", "w2"].map((id) => NodeProcess.start(["--role", "worker", "--connect", coord.address, "--id", id, "--spill-mb", "8", "--heartbeat-ms", "200"], { cwd: dir, env, waitListening: false })));
  let coordPeak = 0;
  let backupPeak = 0;
  const sampler = setInterval(() => {
    try {
      coordPeak = Math.max(coordPeak, peakRssMb(coord.pid));
      backupPeak = Math.max(backupPeak, peakRssMb(backup.pid));
    } catch {
      /* exited */
    }
  }, 50);
  expect(await coord.exited).toBe(0);
  clearInterval(sampler);
  expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
  expect(outputLines("big")).toEqual(expectedCounts());
  console.log(`peak RSS: coordinator ${coordPeak.toFixed(0)} MB, backup ${backupPeak.toFixed(0)} MB for ~100 MB of intermediate data`);
  // A coordinator that held the intermediate data would pass 200 MB (JS strings: 2 bytes a character).
  expect(coordPeak).toBeLessThan(150);
  expect(backupPeak).toBeLessThan(150);
  // Each reduce got ~33 MB of values against an 8 MB bound: it spilled.
  const spills = [...workers.flatMap((w) => [...w.stderr.matchAll(/reduced task=\d+ sources=\d+ keys=\d+ spills=(\d+)/g)].map((m) => Number(m[1])))];
  expect(spills.length).toBe(3);
  expect(spills.some((n) => n > 0)).toBe(true);
}, 120_000);

test("--sequential with a 1 MB spill bound gives the same output as with the default, through sorted runs on disk", async () => {
  const env = { BLOWUP_VALUE_BYTES: "200" };
  const run = async (out: string, extra: string[]): Promise<NodeProcess> => {
    const node = await NodeProcess.start(["mapreduce", "--sequential", "--input", "part-*.txt", "--out", out, "--reduces", "3", "--app", BLOWUP, ...extra], { cwd: dir, env, waitListening: false });
    expect(await node.exited).toBe(0);
    return node;
  };
  await run("seq-default", []);
  const small = await run("seq-spill", ["--spill-mb", "1"]);
  expect(small.stdout).toMatch(/, \d+ sorted run\(s\) spilled,/);
  expect(outputLines("seq-spill")).toEqual(outputLines("seq-default"));
  expect(outputLines("seq-spill")).toEqual(expectedCounts());
}, 60_000);

test("a reduce whose output can never fit a frame fails its task (and after the retries the job), instead of looping", async () => {
  const env = { BLOWUP_REDUCE_BYTES: String(20 * 1024 * 1024) }; // 20 MB > the 16 MiB frame
  const coordinator = await NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "one.txt", "--out", "o2", "--reduces", "1", "--app", BLOWUP], { cwd: dir, env });
  const worker = await NodeProcess.start(["--role", "worker", "--connect", coordinator.address], { cwd: dir, env, waitListening: false });
  expect(await coordinator.exited).toBe(ExitCode.jobFailed);
  expect(coordinator.stderr).toMatch(/job failed: reduce task 0 failed 3 times: its output is too large to send/);
  expect(await worker.exited).toBe(ExitCode.jobFailed);
}, 60_000);
