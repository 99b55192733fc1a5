// Torture of MapReduce, as the MIT 6.5840 test script and Jepsen would run it: each run makes a
// random corpus (long lines without newlines included), starts a coordinator, maybe a backup, and
// 2–4 workers, then applies a seeded random schedule of faults at random moments of the job:
//   - kill -9 of a worker, usually followed by a replacement with the same id;
//   - SIGSTOP/SIGCONT of a worker, shorter and longer than death detection;
//   - a partition between every worker and the acting coordinator (a fault proxy they all cross);
//   - kill -9 of the acting coordinator once its backup is in sync, then a new backup for the new
//     acting coordinator (so a second takeover can follow);
//   - in a few runs, a double fault: the acting coordinator killed whether or not its backup is in
//     sync (then the job may be lost: that is the design's limit, judged as "lost" if every process
//     says so and exits, an error otherwise).
// The output is judged against a word count (or index) computed here, independently of the code
// under test; every exit must be explained by the schedule; nothing may run past RUN_MS.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/launcher/local_process.ts";
import { FaultProxy } from "../harness/fault_proxy.ts";
import { readOutputLines } from "../../src/mapreduce/output.ts";
import { killAll, NodeProcess } from "../harness/node_process.ts";
import type { RunContext, Suite, Verdict } from "./torture.ts";

const HB = ["--heartbeat-ms", "200"];
/** From the start to every process having exited (a lost job's workers look for 5 s first). */
const RUN_MS = 90_000;
/**
 * A worker looks this long for a lost coordinator (the default is 30 s; a run must end sooner).
 * It must outlast what the schedule can do to one search: a takeover (2 s), then partitions of the
 * new coordinator of up to 2.8 s each with 2 s hello timeouts around them. At 6 s a worker gave up
 * while its coordinator was alive but partitioned most of that time (seed 169667597).
 */
const WORKER_LOST_MS = 15_000;
const WORDS = ["the", "whale", "Ishmael", "sea", "naïve", "über", "東京", "captain", "ship", "white", "Queequeg", "harpoon", "a", "of", "and"];

interface Node {
  proc: NodeProcess;
  proxy: FaultProxy;
  /** The address others are told (through the proxy). */
  address: string;
  killed: boolean;
  /** When the process exited (Date.now()), once it has. */
  exitedAtMs?: number;
}

export const mapreduceSuite: Suite = {
  name: "mapreduce",
  async run(ctx: RunContext): Promise<Verdict> {
    const dir = mkdtempSync(join(tmpdir(), "peer-node-torture-mr-"));
    const proxies: FaultProxy[] = [];
    try {
      return await oneRun(ctx, dir, proxies);
    } finally {
      for (const p of proxies) p.stop();
      await killAll();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** The corpus: 2–6 files, some lines far longer than a split, unicode words. */
function makeCorpus(ctx: RunContext, dir: string): string[] {
  const { rand } = ctx;
  const files: string[] = [];
  for (let f = 0, n = 2 + rand(5); f < n; f++) {
    const size = 20_000 + rand(100_000);
    const longLine = rand(4) === 0;
    let text = "";
    while (text.length < size) text += WORDS[rand(WORDS.length)]! + (longLine || rand(9) !== 0 ? " " : "\n");
    const name = `in-${f}.txt`;
    writeFileSync(join(dir, name), text);
    files.push(name);
  }
  return files;
}

/** The reference output lines, computed here. */
function reference(dir: string, files: string[], app: string): string[] {
  const perWord = new Map<string, { count: number; files: Set<string> }>();
  for (const file of files) {
    for (const word of readFileSync(join(dir, file), "utf8").match(/\p{L}+/gu) ?? []) {
      const entry = perWord.get(word) ?? { count: 0, files: new Set<string>() };
      entry.count++;
      entry.files.add(file);
      perWord.set(word, entry);
    }
  }
  return [...perWord].map(([w, e]) => (app === "wc" ? `${w} ${e.count}` : `${w} ${e.files.size} ${[...e.files].sort().join(",")}`)).sort();
}


async function oneRun(ctx: RunContext, dir: string, proxies: FaultProxy[]): Promise<Verdict> {
  const { rand, log } = ctx;
  const files = makeCorpus(ctx, dir);
  const app = rand(10) < 7 ? "wc" : "indexer";
  const reduces = 1 + rand(5);
  const splitKb = 4 + rand(12);
  const withBackup = rand(4) !== 0;
  const doubleFaults = withBackup && rand(10) === 0;
  const workerCount = 2 + rand(3);
  const taskDelayMs = 50 + rand(200);
  log(`corpus ${files.length} files, app ${app}, reduces ${reduces}, split ${splitKb} KB, backup ${withBackup}, double faults ${doubleFaults}, ${workerCount} workers, task delay ${taskDelayMs} ms`);
  const startedMs = Date.now();

  /** A coordinator-capable node behind its own proxy (so a partition can cut the workers from it). */
  const startNode = async (args: string[]): Promise<Node> => {
    const port = freePort();
    const proxy = FaultProxy.start("127.0.0.1", port);
    proxies.push(proxy);
    const isBackup = args[1] === "backup";
    const proc = await NodeProcess.start([...args, "--listen", `127.0.0.1:${port}`, ...(isBackup ? ["--advertise", proxy.address] : []), ...HB], { cwd: dir });
    const node: Node = { proc, proxy, address: proxy.address, killed: false };
    void proc.exited.then(() => (node.exitedAtMs = Date.now()));
    return node;
  };
  let acting = await startNode(["--role", "coordinator", "--input", "in-*.txt", "--out", "out", "--reduces", String(reduces), "--app", app, "--split-kb", String(splitKb), "--task-timeout-ms", "3000"]);
  let standby: Node | null = withBackup ? await startNode(["--role", "backup", "--connect", acting.proc.address]) : null;
  const coordinators: Node[] = [acting, ...(standby ? [standby] : [])];

  const workers = new Map<string, { proc: NodeProcess; killed: boolean; paused: boolean }[]>();
  const startWorker = async (id: string): Promise<void> => {
    // As the README says: a worker is given every coordinator address there is (it learns later backups).
    const connect = [acting.address, ...(standby ? [standby.address] : [])].join(",");
    const proc = await NodeProcess.start(["--role", "worker", "--connect", connect, "--id", id, "--task-delay-ms", String(taskDelayMs), "--coordinator-lost-ms", String(WORKER_LOST_MS), ...HB], { cwd: dir, waitListening: false });
    workers.set(id, [...(workers.get(id) ?? []), { proc, killed: false, paused: false }]);
  };
  for (let i = 1; i <= workerCount; i++) await startWorker(`w${i}`);

  const inSync = (node: Node): boolean => /backup-in-sync/.test(node.proc.stderr.slice(node.proc.stderr.lastIndexOf("coordinating") >= 0 ? node.proc.stderr.lastIndexOf("coordinating") : 0));
  let lostByDesign: string | null = null;
  const jobEnded = (): boolean => coordinators.every((c) => !c.proc.isRunning);

  // The schedule: 1–6 faults, 100–1200 ms apart, while the job runs.
  const faults = 1 + rand(6);
  for (let i = 0; i < faults && !jobEnded(); i++) {
    await Bun.sleep(100 + rand(1_100));
    if (jobEnded()) break;
    const live = [...workers.entries()].map(([id, lives]) => ({ id, w: lives.at(-1)! })).filter(({ w }) => w.proc.isRunning && !w.killed);
    const choice = rand(100);
    if (choice < 30 && live.length > 0) {
      const { id, w } = live[rand(live.length)]!;
      w.killed = true;
      w.proc.kill("SIGKILL");
      // The schedule always leaves the job someone to run it: the last live worker is always replaced.
      const restart = rand(10) < 7 || live.length === 1;
      log(`+${Date.now() - startedMs} ms: kill -9 worker ${id}${restart ? ", replaced" : ""}`);
      if (restart) {
        await Bun.sleep(rand(800));
        await startWorker(id);
      }
    } else if (choice < 55 && live.length > 0) {
      const { id, w } = live[rand(live.length)]!;
      const ms = rand(2) === 0 ? 100 + rand(300) : 1_000 + rand(2_000);
      log(`+${Date.now() - startedMs} ms: pause worker ${id} ${ms} ms`);
      w.paused = true;
      w.proc.pause();
      await Bun.sleep(ms);
      w.proc.resume();
      w.paused = false;
    } else if (choice < 75) {
      const ms = 300 + rand(2_500);
      log(`+${Date.now() - startedMs} ms: partition the workers from the acting coordinator for ${ms} ms`);
      acting.proxy.partition({ lossy: rand(2) === 0 });
      await Bun.sleep(ms);
      acting.proxy.heal();
    } else if (standby !== null && (inSync(acting) || doubleFaults)) {
      const synced = inSync(acting);
      log(`+${Date.now() - startedMs} ms: kill -9 the acting coordinator (${synced ? "its backup in sync" : "its backup NOT in sync: a double fault"})`);
      if (!synced) lostByDesign = "the acting coordinator died before its backup was in sync";
      acting.killed = true;
      acting.proc.kill("SIGKILL");
      const next: Node = standby;
      standby = null;
      // Wait for the takeover, then give the new acting coordinator a backup of its own.
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && next.proc.isRunning && !/coordinating address=/.test(next.proc.stderr)) await Bun.sleep(50);
      if (!/coordinating address=/.test(next.proc.stderr)) {
        log(`+${Date.now() - startedMs} ms: the backup did not take over (running: ${next.proc.isRunning})`);
        acting = next;
        break;
      }
      acting = next;
      if (next.proc.isRunning && rand(10) < 8) {
        standby = await startNode(["--role", "backup", "--connect", next.proc.address]);
        coordinators.push(standby);
        log(`+${Date.now() - startedMs} ms: a new backup for the acting coordinator`);
      }
    }
  }

  log(`+${Date.now() - startedMs} ms: schedule over`);
  // The job ends when no coordinator-capable process is left running; then every worker must end.
  while (!jobEnded() && Date.now() - startedMs < RUN_MS) await Bun.sleep(100);
  const allWorkers = [...workers.entries()].flatMap(([id, lives]) => lives.map((w) => ({ id, ...w })));
  while (allWorkers.some((w) => w.proc.isRunning) && Date.now() - startedMs < RUN_MS) await Bun.sleep(100);
  const running = [...coordinators.filter((c) => c.proc.isRunning).map((c) => c.proc.args[1]), ...allWorkers.filter((w) => w.proc.isRunning).map((w) => `worker ${w.id}`)];
  if (running.length > 0) return { kind: "hung", why: `still running after ${RUN_MS / 1000} s: ${running.join(", ")}` };

  if (process.env.TORTURE_DUMP) {
    const { writeFileSync, mkdirSync } = await import("node:fs");
    mkdirSync(process.env.TORTURE_DUMP, { recursive: true });
    coordinators.forEach((c, i) => writeFileSync(`${process.env.TORTURE_DUMP}/coord-${i}.log`, c.proc.stderr));
    allWorkers.forEach((w, i) => writeFileSync(`${process.env.TORTURE_DUMP}/worker-${w.id}-${i}.log`, w.proc.stderr));
  }
  // Exits: the last acting coordinator 0 (unless the job was lost); killed ones anything; others explained.
  const finalCode = await acting.proc.exited;
  if (lostByDesign !== null && finalCode !== 0) {
    const unexplained = allWorkers.filter((w) => !w.killed && w.proc.exitCode !== 3 && w.proc.exitCode !== 0);
    if (unexplained.length > 0) return { kind: "error", why: `job lost (${lostByDesign}) but worker ${unexplained[0]!.id} exited ${unexplained[0]!.proc.exitCode}` };
    return { kind: "lost", why: `${lostByDesign}; every process exited (the backup: ${JSON.stringify(acting.proc.stderr.trim().split("\n").at(-1))})` };
  }
  if (finalCode !== 0) return { kind: "error", why: `the acting coordinator (${acting.proc.args[1]}) exited ${finalCode}: ${acting.proc.stderr.trim().split("\n").slice(-2).join(" | ")}` };
  for (const c of coordinators) {
    if (c === acting || c.killed) continue;
    const code = c.proc.exitCode;
    if (code !== 0) return { kind: "error", why: `${c.proc.args[1]} at ${c.address} exited ${code}: ${c.proc.stderr.trim().split("\n").slice(-2).join(" | ")}` };
  }
  for (const w of allWorkers) {
    if (w.killed || w.proc.exitCode === 0) continue;
    // Explained: a worker that never reached a coordinator before the job was over (its coordinator
    // died before it connected, partitions held it off) says so and exits 1 after its first-connect window.
    const neverJoined = !/connected peer=\S+ role=(coordinator|backup)/.test(w.proc.stderr) && w.proc.exitCode === 1 && /cannot reach the coordinator/.test(w.proc.stderr);
    if (neverJoined) {
      log(`worker ${w.id} never reached a coordinator before the job ended: exit 1 (explained)`);
      continue;
    }
    // Explained: a worker cut off (paused, partitioned) when the job ended. The acting coordinator
    // finished without it (its exit notice went nowhere, or it lingered in vain); the worker finds
    // no coordinator and gives up with exit 3 after its --coordinator-lost-ms, whose search began
    // after the job was over (give or take 2 s: a paused or partitioned worker notices the loss on
    // a heartbeat check). A worker that gave up while its coordinator was still there to be found
    // (a search that began 2 s or more before the coordinator exited) is not explained.
    const gaveUpAtMs = Date.parse(/^(\S+) WARN \S+ upstream-lost what=coordinator/m.exec(w.proc.stderr)?.[1] ?? "");
    const cutAtEnd = acting.exitedAtMs !== undefined && gaveUpAtMs - WORKER_LOST_MS + 2_000 >= acting.exitedAtMs;
    if (w.proc.exitCode === 3 && cutAtEnd) {
      log(`worker ${w.id} was cut off when the job ended: exit 3, its search began ${Math.round(gaveUpAtMs - WORKER_LOST_MS - acting.exitedAtMs!)} ms after the coordinator exited (explained)`);
      continue;
    }
    return { kind: "error", why: `worker ${w.id} exited ${w.proc.exitCode}: ${w.proc.stderr.trim().split("\n").slice(-2).join(" | ")}` };
  }
  const got = readOutputLines(join(dir, "out"));
  const want = reference(dir, files, app);
  if (got.length !== want.length || got.some((line, i) => line !== want[i])) {
    const diff = want.find((line, i) => got[i] !== line);
    return { kind: "wrong", why: `${got.length} output lines, ${want.length} expected; first difference near ${JSON.stringify(diff)}` };
  }
  log(`+${Date.now() - startedMs} ms: all exited, output equal (${got.length} lines)`);
  return { kind: "equal" };
}
