// `./node run mapreduce` (and `npm start`): the product's main job end to end on one machine.
// Generates a deterministic corpus, computes the sequential reference, starts a coordinator, a
// backup and three workers as local processes, kills one worker and then the coordinator partway
// through, lets the backup finish, and checks the output against the reference.

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killAll, LocalProcess } from "../launcher/local_process.ts";
import { limits } from "../limits.ts";
import type { Terminal } from "../runtime/terminal.ts";
import { BUILT_IN_APPS } from "./app.ts";
import { readOutputLines } from "./output.ts";
import { runSequential } from "./sequential.ts";
import { queryJobStatus } from "./status_query.ts";
import { seededRandom } from "../seeded_random.ts";

export interface DemoOptions {
  workers: number;
  sizeMb: number;
  command?: string[];
  terminal: Terminal;
}

export interface DemoResult {
  identical: boolean;
  keys: number;
  elapsedMs: number;
  killedWorker: boolean;
  killedCoordinator: boolean;
  summary: string;
}

/** Deterministic text: pseudo-words from syllables, some capitalised, some accented. */
export function generateCorpus(dir: string, files: number, bytesPerFile: number): string[] {
  const syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "é", "ü", "ba", "do", "fe", "gu", "ha", "jo"];
  const rand = seededRandom(20261121);
  const vocabulary = Array.from({ length: 5000 }, () => {
    let word = "";
    for (let s = 0, n = 1 + rand(4); s < n; s++) word += syllables[rand(syllables.length)];
    return rand(10) === 0 ? word[0]!.toUpperCase() + word.slice(1) : word;
  });
  const paths: string[] = [];
  for (let f = 0; f < files; f++) {
    const parts: string[] = [];
    let size = 0;
    while (size < bytesPerFile) {
      // Zipf-like: common words are much more common, as in real text.
      const word = vocabulary[Math.floor(vocabulary.length * Math.pow(rand(1_000_000) / 1_000_000, 3))]!;
      const sep = rand(12) === 0 ? ".\n" : rand(6) === 0 ? ", " : " ";
      parts.push(word, sep);
      size += word.length + sep.length;
    }
    const path = join(dir, `book-${String(f + 1).padStart(2, "0")}.txt`);
    writeFileSync(path, parts.join(""));
    paths.push(path);
  }
  return paths;
}

export async function runMapReduceDemo(options: DemoOptions): Promise<DemoResult> {
  const say = (line: string): void => options.terminal.line(line);
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "peer-node-demo-"));
  const files = generateCorpus(dir, 8, Math.round((options.sizeMb * 1024 * 1024) / 8));
  say(`peer-node MapReduce demo: word count of ${files.length} files (${options.sizeMb} MB) in ${dir}`);

  const seqStart = performance.now();
  const reference = await runSequential({ files, outDir: join(dir, "sequential"), reduces: 5, app: BUILT_IN_APPS.wc!, spillBytes: limits.spillBytesDefault });
  say(`  sequential reference: ${reference.keys.toLocaleString("en-US")} keys in ${Math.round(performance.now() - seqStart)} ms`);

  const launch = { command: options.command, cwd: dir };
  const out = join(dir, "distributed");
  mkdirSync(out, { recursive: true });
  const coordinator = await LocalProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "book-*.txt", "--out", out, "--reduces", "5", "--task-timeout-ms", "3000", "--log-level", "info"], launch);
  const backup = await LocalProcess.start(["--role", "backup", "--connect", coordinator.address, "--listen", "127.0.0.1:0", "--out", out, "--log-level", "info"], launch);
  await coordinator.waitForLog("backup-in-sync", limits.processStartTimeoutMs);
  const workers = await Promise.all(
    Array.from({ length: options.workers }, (_, i) => LocalProcess.start(["--role", "worker", "--connect", coordinator.address, "--id", `w${i + 1}`, "--task-delay-ms", "120", "--log-level", "warn"], { ...launch, waitListening: false })),
  );
  say(`  coordinator ${coordinator.address}, backup ${backup.address}, workers ${workers.map((_, i) => `w${i + 1}`).join(" ")}`);

  // Watch the job through mr.status; kill a worker at 25 % of the maps, the coordinator at 50 %.
  const progress = options.terminal.progress("  job", 1);
  const deadlineMs = Date.now() + limits.demoTimeoutMs;
  let killedWorker = false;
  let killedCoordinator = false;
  const events: string[] = [];
  while (backup.isRunning || coordinator.isRunning) {
    if (Date.now() > deadlineMs) {
      progress.finish();
      await killAll();
      say(`VERDICT: the job did not finish within ${limits.demoTimeoutMs / 1000} s; outputs kept in ${dir}`);
      return { identical: false, keys: 0, elapsedMs: Math.round(performance.now() - started), killedWorker, killedCoordinator, summary: "timed out" };
    }
    // After the kill the backup is the coordinator (it answers mr.status once it has taken over).
    const status = await queryJobStatus(killedCoordinator ? backup.address : coordinator.address);
    if (status === null) {
      await Bun.sleep(50);
      continue;
    }
    const total = status.maps + status.reduces;
    const doneTasks = status.mapsDone + status.reducesDone;
    progress.total = total;
    progress.update(doneTasks, `maps ${status.mapsDone}/${status.maps} reduces ${status.reducesDone}/${status.reduces} workers ${status.workers} reassigned ${status.reassignments} takeovers ${status.takeovers}`);
    if (!killedWorker && status.mapsDone >= status.maps * 0.25) {
      killedWorker = true;
      workers[0]!.kill("SIGKILL");
      events.push(`killed worker w1 (SIGKILL) at maps ${status.mapsDone}/${status.maps}`);
    }
    if (!killedCoordinator && status.mapsDone >= status.maps * 0.5) {
      killedCoordinator = true;
      coordinator.kill("SIGKILL");
      events.push(`killed the coordinator (SIGKILL) at maps ${status.mapsDone}/${status.maps}: the backup takes over`);
    }
    if (status.reducesDone === status.reduces) break;
    await Bun.sleep(50);
  }
  progress.finish();
  for (const event of events) say(`  ✗ ${event}`);
  const codes = await Promise.all([backup.exited, ...workers.slice(1).map((w) => w.exited)]);
  const summary = (backup.stdout.match(/done: .*/) ?? coordinator.stdout.match(/done: .*/) ?? ["(no summary)"])[0];
  say(`  ${killedCoordinator ? "finished on the backup" : "finished"}: ${summary.replace(/^done: /, "")}`);
  if (codes.some((c) => c !== 0)) say(`  warning: exit codes backup/workers: ${codes.join(", ")}`);

  const expected = readOutputLines(join(dir, "sequential"));
  const got = readOutputLines(out);
  const identical = got.length === expected.length && got.every((line, i) => line === expected[i]);
  const elapsedMs = Math.round(performance.now() - started);
  say(identical
    ? `VERDICT: IDENTICAL to the sequential run (${expected.length.toLocaleString("en-US")} keys), despite a dead worker and a dead coordinator; ${elapsedMs} ms in all`
    : `VERDICT: DIFFERENT from the sequential run (${got.length} vs ${expected.length} lines); outputs kept in ${dir}`);
  await killAll();
  return { identical, keys: expected.length, elapsedMs, killedWorker, killedCoordinator, summary };
}
