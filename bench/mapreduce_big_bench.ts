// The big MapReduce run: word count of ~1 GB of generated text with the compiled binary, as
// `npm run bench -- mapreduce-1g` (not part of the default run: it takes minutes and a few GB of
// disk). Sequential first, then a coordinator, a backup and 2 workers; peak RSS (VmHWM) of every
// process, wall time of each, and the two outputs compared line by line.

import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killAll, LocalProcess } from "../src/launcher/local_process.ts";
import { readOutputLines } from "../src/mapreduce/output.ts";
import { seededRandom } from "../src/seeded_random.ts";

export interface BigRunResult {
  megabytes: number;
  splits: number;
  sequential: { ms: number; peakMb: number };
  distributed: { ms: number; coordinatorPeakMb: number; backupPeakMb: number; workerPeakMb: number[] };
  spillMb: number;
  equal: boolean;
  keys: number;
}

/** Write `files` files of `bytesPerFile` each, streaming (no file is ever held in memory). */
async function writeCorpus(dir: string, files: number, bytesPerFile: number, onProgress: (mb: number) => void): Promise<void> {
  const syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "é", "ü", "ba", "do", "fe", "gu", "ha", "jo"];
  const rand = seededRandom(20261122);
  const vocabulary = Array.from({ length: 50_000 }, () => {
    let word = "";
    for (let s = 0, n = 1 + rand(5); s < n; s++) word += syllables[rand(syllables.length)];
    return word;
  });
  let written = 0;
  for (let f = 0; f < files; f++) {
    const out = createWriteStream(join(dir, `book-${String(f + 1).padStart(2, "0")}.txt`));
    for (let size = 0; size < bytesPerFile; ) {
      let chunk = "";
      while (chunk.length < 1 << 20) {
        chunk += vocabulary[Math.floor(vocabulary.length * Math.pow(rand(1_000_000) / 1_000_000, 3))]!;
        chunk += rand(12) === 0 ? ".\n" : " ";
      }
      size += chunk.length;
      written += chunk.length;
      if (!out.write(chunk)) await new Promise((resolve) => out.once("drain", resolve));
      onProgress(written / 2 ** 20);
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

/** Peak RSS of a process in MB, read until it exits (VmHWM only grows). */
function watchPeak(proc: LocalProcess): () => number {
  let peak = 0;
  const read = (): void => {
    try {
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"))?.[1] ?? 0) / 1024);
    } catch {
      /* exited */
    }
  };
  const timer = setInterval(read, 100);
  void proc.exited.then(() => clearInterval(timer));
  return () => {
    read();
    return peak;
  };
}


export async function runBigMapReduce(binary: string, megabytes: number, log: (line: string) => void, status: (line: string) => void): Promise<BigRunResult> {
  const dir = mkdtempSync(join(tmpdir(), "peer-node-mr1g-"));
  const launch = { command: [binary], cwd: dir };
  const spillMb = 64;
  try {
    const files = 16;
    await writeCorpus(dir, files, Math.round((megabytes * 2 ** 20) / files), (mb) => status(`generating: ${mb.toFixed(0)} MB`));
    const bytes = readdirSync(dir).filter((f) => f.startsWith("book-")).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    log(`  corpus: ${(bytes / 2 ** 20).toFixed(0)} MB in ${files} files`);
    const job = (out: string): string[] => ["--input", "book-*.txt", "--out", out, "--reduces", "8"];

    let t = performance.now();
    const seq = await LocalProcess.start(["mapreduce", "--sequential", ...job("seq"), "--spill-mb", String(spillMb)], { ...launch, waitListening: false });
    const seqPeak = watchPeak(seq);
    if ((await seq.exited) !== 0) throw new Error(`sequential run failed: ${seq.stderr.slice(-500)}`);
    const sequential = { ms: performance.now() - t, peakMb: seqPeak() };
    const splits = Number(/in (\d+) split/.exec(seq.stdout)?.[1] ?? 0);
    log(`  sequential: ${(sequential.ms / 1000).toFixed(1)} s, peak RSS ${sequential.peakMb.toFixed(0)} MB (${splits} splits)`);

    t = performance.now();
    const coord = await LocalProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--log-level", "warn", ...job("dist")], launch);
    const backup = await LocalProcess.start(["--role", "backup", "--connect", coord.address, "--listen", "127.0.0.1:0", "--log-level", "warn"], launch);
    const workers = await Promise.all([1, 2].map((i) => LocalProcess.start(["--role", "worker", "--connect", `${coord.address},${backup.address}`, "--id", `w${i}`, "--spill-mb", String(spillMb), "--log-level", "warn"], { ...launch, waitListening: false })));
    const peaks = [coord, backup, ...workers].map(watchPeak);
    const ticker = setInterval(() => status(`distributed: ${((performance.now() - t) / 1000).toFixed(0)} s`), 1000);
    const code = await coord.exited;
    clearInterval(ticker);
    if (code !== 0) throw new Error(`distributed run failed: ${coord.stderr.slice(-500)}`);
    await Promise.all([backup.exited, ...workers.map((w) => w.exited)]);
    const distributed = { ms: performance.now() - t, coordinatorPeakMb: peaks[0]!(), backupPeakMb: peaks[1]!(), workerPeakMb: [peaks[2]!(), peaks[3]!()] };
    log(`  coordinator + backup + 2 workers: ${(distributed.ms / 1000).toFixed(1)} s; peak RSS coordinator ${distributed.coordinatorPeakMb.toFixed(0)} MB, backup ${distributed.backupPeakMb.toFixed(0)} MB, workers ${distributed.workerPeakMb.map((m) => m.toFixed(0)).join(" and ")} MB (spill bound ${spillMb} MB)`);

    const a = readOutputLines(join(dir, "seq"));
    const b = readOutputLines(join(dir, "dist"));
    const equal = a.length === b.length && a.every((line, i) => line === b[i]);
    log(`  outputs: ${equal ? "EQUAL" : "DIFFERENT"} (${a.length.toLocaleString("en-US")} keys)`);
    return { megabytes: bytes / 2 ** 20, splits, sequential, distributed, spillMb, equal, keys: a.length };
  } finally {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
