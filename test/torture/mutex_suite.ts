// Torture of the mutual-exclusion round: each run starts a broker process, an observer, a leader
// (--connect: the broker is its own process, so the leader can die or stop while the broker and the
// slaves go on; a leader hosting the broker would take everybody down with it) and 3–8 slaves, each
// behind a proxy with its own latency, then applies a seeded random schedule of faults — kill -9
// and SIGSTOP/SIGCONT, shorter and longer than the heartbeat window, of the leading process (the
// leader, then whichever slave said last that it takes over, often right after the previous one
// died, in the middle of its takeover) and of random slaves — and judges the outcome against the
// observer's own reading of the fanout (test/harness/mutex_observer.ts, not the code under test):
//   - nothing hangs: every process ends within the run's bound;
//   - every slave that exited 0 printed the observer's list;
//   - every slave never faulted exited 0 and wrote exactly once;
//   - every non-zero exit is explained by a fault (killed; or stopped long enough to be declared dead: 3).
// One slave at least is never faulted, so the round always has someone to finish it.

import { slaveResult } from "../../protocols/mutex.ts";
import { parsed } from "../../protocols/schema.ts";
import type { LocalProcess } from "../../src/launcher/local_process.ts";
import { FaultProxy } from "../harness/fault_proxy.ts";
import { MutexObserver } from "../harness/mutex_observer.ts";
import { killAll, NodeProcess } from "../harness/node_process.ts";
import type { RunContext, Suite, Verdict } from "./torture.ts";

/** Heartbeat of every process: a silent peer is declared dead after 3 intervals (750–875 ms). */
const HEARTBEAT_MS = 250;
const DEAD_AFTER_MS = HEARTBEAT_MS * 3;
/** Pauses well inside the window (never declared dead) and well past it (always declared dead). */
const SHORT_PAUSE_MS = [40, 250] as const;
const LONG_PAUSE_MS = [DEAD_AFTER_MS * 2, DEAD_AFTER_MS * 3] as const;
/** One-way latency between a process and the broker: 0, 5, 10 or 15 ms, chosen per process. */
const LATENCY_STEP_MS = 5;
const LATENCY_STEPS = 4;
/** From the slaves being ready to every process having exited: a few deaths, each detected within a second. */
const RUN_MS = 30_000;
/** Starting the processes (a loaded 2-core machine boots 10 bun processes in a few seconds). */
const START_MS = 20_000;
const SLAVES_MIN = 3;
const SLAVES_MAX = 8;
const FAULTS_MAX = 4;

type Target = "leading" | "slave";
type Action = { kind: "kill" } | { kind: "pause"; ms: number };
interface Fault {
  /**
   * When: once this many appends are in the fanout (-1: as soon as the slaves are ready, maybe
   * before the start), then delayMs more (between a grant and its append, or not); or this long
   * after the previous fault (the one that leads next, in the middle of its takeover).
   */
  when: { appended: number; delayMs: number } | { afterPreviousMs: number };
  target: Target;
  action: Action;
}

export const mutexSuite: Suite = {
  name: "mutex",
  async run(ctx: RunContext): Promise<Verdict> {
    const cleanups: Array<() => unknown> = [];
    try {
      return await oneRun(ctx, cleanups);
    } finally {
      for (const cleanup of cleanups) await cleanup();
      await killAll(); // SIGCONT first, so a stopped process dies too
    }
  },
};

/** Every choice comes from ctx.rand, in this order, so the seed replays the schedule. */
function schedule(ctx: RunContext, slaves: number): Fault[] {
  const { rand } = ctx;
  const count = 1 + rand(Math.min(FAULTS_MAX, slaves - 1));
  const faults: Fault[] = [];
  for (let i = 0; i < count; i++) {
    // The leading process most often, and after it most often the one that leads next.
    const target: Target = rand(100) < (faults.at(-1)?.target === "leading" ? 80 : 60) ? "leading" : "slave";
    const action: Action = rand(100) < 55 ? { kind: "kill" } : { kind: "pause", ms: pauseMs(ctx) };
    let when: Fault["when"];
    // Often right after the previous fault: the next leader dies or stops in its takeover.
    if (i > 0 && rand(100) < 50) when = { afterPreviousMs: rand(60) };
    // Before the start, only the leader: a slave that dies before its ready reached the leader is
    // one the leader waits for (it asked for N); after the start nobody waits for the dead.
    else if (i === 0 && target === "leading" && rand(100) < 25) when = { appended: -1, delayMs: rand(30) };
    else when = { appended: rand(slaves), delayMs: rand(30) };
    faults.push({ when, target, action });
  }
  // In round order: a fault due at fewer appends than the one before would only fire with it.
  const thresholds = faults.flatMap((f) => ("appended" in f.when ? [f.when.appended] : [])).sort((a, b) => a - b);
  for (const fault of faults) if ("appended" in fault.when) fault.when.appended = thresholds.shift()!;
  return faults;
}

function pauseMs(ctx: RunContext): number {
  const [low, high] = ctx.rand(2) === 0 ? SHORT_PAUSE_MS : LONG_PAUSE_MS;
  return low + ctx.rand(high - low);
}

function describeFault(fault: Fault): string {
  const when = "afterPreviousMs" in fault.when ? `${fault.when.afterPreviousMs} ms after the previous` : `${fault.when.appended < 0 ? "once the slaves are ready" : `at ${fault.when.appended} appended`} + ${fault.when.delayMs} ms`;
  const action = fault.action.kind === "kill" ? "kill -9" : `pause ${fault.action.ms} ms`;
  return `${action} the ${fault.target === "leading" ? "leading process" : "random slave"}, ${when}`;
}

async function oneRun(ctx: RunContext, cleanups: Array<() => unknown>): Promise<Verdict> {
  const { rand, log } = ctx;
  const n = SLAVES_MIN + rand(SLAVES_MAX - SLAVES_MIN + 1);
  // Ids in a random order, so the join order (which decides succession) is not the id order.
  const ids = Array.from({ length: n }, (_, i) => `s-${i + 1}`);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const faults = schedule(ctx, n);
  log(`${n} slaves (${ids.join(" ")}), heartbeat ${HEARTBEAT_MS} ms; schedule: ${faults.map(describeFault).join("; ")}`);
  const startedMs = performance.now();
  const at = (): string => `${Math.round(performance.now() - startedMs)} ms`;

  const heartbeat = ["--heartbeat-ms", String(HEARTBEAT_MS)];
  const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", ...heartbeat], { startTimeoutMs: START_MS });
  const observer = await MutexObserver.start(broker.address);
  cleanups.push(() => observer.close());
  // Each process reaches the broker through a proxy with its own latency: a round lasts long enough
  // for faults to land inside it, and messages of different processes interleave differently.
  const latencies: string[] = [];
  const via = (who: string): string => {
    const proxy = FaultProxy.start(broker.host, broker.port);
    cleanups.push(() => proxy.stop());
    proxy.delayMs = LATENCY_STEP_MS * rand(LATENCY_STEPS);
    latencies.push(`${who} ${proxy.delayMs}`);
    return proxy.address;
  };
  const leader = await NodeProcess.start(["--role", "leader", "--slaves", String(n), "--connect", via("leader"), ...heartbeat], { waitListening: false });
  await leader.waitForLog("waiting-for-slaves", START_MS);
  const slaves = new Map<string, LocalProcess>();
  for (const id of ids) slaves.set(id, await NodeProcess.start(["--role", "slave", "--connect", via(id), "--id", id, ...heartbeat], { waitListening: false }));
  log(`latencies (ms): ${latencies.join(", ")}`);
  await Promise.all([...slaves.values()].map((s) => s.waitForLog("ready round=", START_MS)));
  log(`${at()}: all slaves ready`);

  // What happened to each process: the judge needs it to explain exits.
  const killed = new Set<LocalProcess>();
  const paused = new Set<LocalProcess>(); // ever paused
  const stopped = new Set<LocalProcess>(); // paused right now
  const resumes: Promise<void>[] = [];
  const nameOf = (p: LocalProcess): string => (p === leader ? "leader" : (p.args[p.args.indexOf("--id") + 1] ?? "?"));
  const faulted = (p: LocalProcess): boolean => killed.has(p) || paused.has(p);
  const deadline = performance.now() + RUN_MS;

  // Who leads is taken from what the processes say, not from the election rule (that is under
  // test too): the slave that most recently logged taking-over, else the leader process.
  const takers: LocalProcess[] = [];
  const watchTakeovers = setInterval(() => {
    for (const slave of slaves.values()) if (!takers.includes(slave) && slave.stderr.includes("taking-over")) takers.push(slave);
  }, 1);
  cleanups.push(() => clearInterval(watchTakeovers));
  /**
   * The process that leads now. While it is one we killed or stopped, wait (bounded) for the next
   * one to say it takes over, or for the stopped one to go on.
   */
  const leading = async (): Promise<LocalProcess | null> => {
    const waitUntilMs = Math.min(deadline, performance.now() + LONG_PAUSE_MS[1] + DEAD_AFTER_MS);
    while (performance.now() < waitUntilMs && !observer.done) {
      const taker = takers.filter((t) => t.isRunning && !killed.has(t)).at(-1);
      const now = taker ?? (!killed.has(leader) && leader.isRunning ? leader : undefined);
      if (now !== undefined && !stopped.has(now)) return now;
      await Bun.sleep(1);
    }
    return null;
  };

  for (const [i, fault] of faults.entries()) {
    if ("afterPreviousMs" in fault.when) await Bun.sleep(fault.when.afterPreviousMs);
    else {
      const need = fault.when.appended;
      while (performance.now() < deadline && !observer.done && need >= 0 && (!observer.started || observer.appended < need)) await Bun.sleep(1);
      await Bun.sleep(fault.when.delayMs);
    }
    if (observer.done) {
      log(`${at()}: fault ${i + 1} not applied: the round is done`);
      continue;
    }
    let target: LocalProcess | null;
    if (fault.target === "leading") target = await leading();
    else {
      const candidates = [...slaves.values()].filter((s) => !killed.has(s) && !stopped.has(s));
      target = candidates.length === 0 ? null : candidates[rand(candidates.length)]!;
    }
    // Keep one slave never faulted: the round must have someone to finish it, and someone to check.
    const unfaulted = [...slaves.values()].filter((s) => !faulted(s));
    if (target === null || stopped.has(target) || (target !== leader && unfaulted.length === 1 && unfaulted[0] === target)) {
      log(`${at()}: fault ${i + 1} not applied: no suitable target (${target === null ? "none" : nameOf(target)})`);
      continue;
    }
    const victim = target;
    if (fault.action.kind === "kill") {
      killed.add(victim);
      victim.kill("SIGKILL");
      log(`${at()}: kill -9 ${nameOf(victim)} (${observer.appended} appended)`);
    } else {
      const ms = fault.action.ms;
      paused.add(victim);
      stopped.add(victim);
      victim.pause();
      log(`${at()}: pause ${nameOf(victim)} for ${ms} ms (${observer.appended} appended)`);
      resumes.push(
        Bun.sleep(ms).then(() => {
          stopped.delete(victim);
          victim.resume();
        }),
      );
    }
  }
  await Promise.all(resumes);

  // Wait for every process but the broker (and the observer) to end, within the bound.
  const everyone = [leader, ...slaves.values()];
  const leftMs = Math.max(0, deadline - performance.now());
  const ended = await Promise.race([Promise.all(everyone.map((p) => p.exited)).then(() => true), Bun.sleep(leftMs).then(() => false)]);
  const running = everyone.filter((p) => p.isRunning);
  const codes = new Map<LocalProcess, number>();
  for (const p of everyone) if (!p.isRunning) codes.set(p, await p.exited);
  log(`${at()}: exits: ${everyone.map((p) => `${nameOf(p)}=${p.isRunning ? "running" : codes.get(p)}${killed.has(p) ? "(killed)" : paused.has(p) ? "(paused)" : ""}`).join(" ")}; observer: ${observer.appended} appended, done ${observer.done}`);
  for (const p of everyone) {
    const lines = p.stderr.split("\n").filter((l) => / WARN | ERROR |taking-over|leading|resigning|^peer-node:/.test(l));
    if (lines.length > 0) log(`  ${nameOf(p)}: ${lines.map((l) => l.replace(/^\S+ /, "")).join(" | ")}`);
  }

  const reference = observer.reference;
  // Wrong first: a finished slave whose list differs is the worst outcome, whatever else happened.
  for (const [id, slave] of slaves) {
    if (codes.get(slave) !== 0) continue;
    const result = parsed(slaveResult, slave.lastJsonLine());
    if (result === undefined) return { kind: "wrong", why: `${id} exited 0 without printing its list (stdout: ${JSON.stringify(slave.stdout.slice(-200))})` };
    if (reference.doneList === null) return { kind: "wrong", why: `${id} printed ${JSON.stringify(result.list)} but the fanout has no done` };
    if (JSON.stringify(result.list) !== JSON.stringify(reference.doneList)) {
      return { kind: "wrong", why: `${id} printed ${JSON.stringify(result.list)}, the fanout says ${JSON.stringify(reference.doneList)}` };
    }
  }
  if (!ended) {
    const what = running.map((p) => `${nameOf(p)}${killed.has(p) ? " (killed!)" : paused.has(p) ? " (paused earlier)" : ""}`).join(", ");
    return { kind: "hung", why: `still running after ${RUN_MS} ms: ${what}; the fanout has ${reference.list.length} appends, done ${observer.done}` };
  }
  if (reference.doneList === null) return { kind: "wrong", why: "every process ended but the fanout has no done" };
  if (reference.doneCount !== reference.doneList.length) return { kind: "wrong", why: `done says ${reference.doneCount} written, the fanout counts ${reference.doneList.length}` };
  const stranger = reference.writers.find((w) => !reference.roster.includes(w));
  if (stranger !== undefined) return { kind: "wrong", why: `${stranger} wrote but is not in the round's start (${reference.roster.join(",")})` };
  for (const [id, slave] of slaves) {
    if (faulted(slave)) continue;
    if (!reference.writers.slice(0, reference.doneList.length).includes(id)) return { kind: "wrong", why: `${id} was never faulted but did not write before done (writers: ${reference.writers.join(",")})` };
  }
  // Exits: a killed process may end any way; one paused may have been declared dead (3) or not (0).
  for (const p of everyone) {
    const code = codes.get(p)!;
    if (killed.has(p)) continue;
    if (paused.has(p) ? code === 0 || code === 3 : code === 0) continue;
    const last = p.stderr.trim().split("\n").at(-1) ?? "";
    return { kind: "error", why: `${nameOf(p)} exited ${code}${paused.has(p) ? " after a pause" : " and was never faulted"}: ${last}` };
  }
  return { kind: "equal" };
}
