// One mutual-exclusion round with local processes, as `./node run mutex` runs it (and the bench):
// like PyWren's map, start the leader (hosting the broker) and N slave processes here, watch the
// fanout as an independent observer, and collect every slave's list.

import { fanoutMessage, MUTEX_FANOUT, slaveResult } from "../../protocols/mutex.ts";
import { parsed } from "../../protocols/schema.ts";
import { BrokerClient } from "../broker/broker_client.ts";
import { freePort, LocalProcess } from "../launcher/local_process.ts";
import { limits } from "../limits.ts";
import { RoundState } from "./round_state.ts";

export interface MutexRunResult {
  slaves: number;
  lists: number[][];
  identical: boolean;
  elapsedMs: number;
  /** From the leader's start message to the last append, as seen on the fanout. */
  protocolMs: number;
}

export interface MutexRunOptions {
  slaves: number;
  round?: string;
  /** Extra args for each slave (e.g. a heartbeat). */
  slaveArgs?: string[];
  onProgress?: (appended: number) => void;
  /** Called once every process started: tests kill or pause them from here. */
  onStarted?: (leader: LocalProcess, slaves: LocalProcess[]) => void;
  command?: string[];
}

/** Run one round with local processes. The reusable core of `run mutex`, also used by the bench. */
export async function runMutex(options: MutexRunOptions): Promise<MutexRunResult> {
  const { slaves } = options;
  const round = options.round ?? "mutex";
  const launch = { command: options.command, waitListening: false };
  // Hundreds of processes on a few cores starve each other for seconds while they start: a longer
  // heartbeat keeps that from looking like deaths. Small rounds keep the 2 s detection bound.
  const heartbeatMs = slaves > 100 ? limits.mutexLargeRoundHeartbeatMs : limits.heartbeatMs;
  const heartbeat = ["--heartbeat-ms", String(heartbeatMs)];
  const startedAt = performance.now();
  // Leader and slaves boot together (slaves retry their first connect while the leader boots):
  // the port is chosen here, so nobody waits for the leader's listening line.
  const port = freePort();
  const address = `127.0.0.1:${port}`;
  const leader = await LocalProcess.start(["--role", "leader", "--slaves", String(slaves), "--embed-broker", "--listen", address, "--round", round, "--log-level", "warn", ...heartbeat], launch);
  const booting = startSlaves(slaves, (i) => ["--role", "slave", "--connect", address, "--id", `slave-${String(i + 1).padStart(3, "0")}`, "--round", round, "--log-level", "info", ...heartbeat, ...(options.slaveArgs ?? [])], launch);
  await leader.waitForOutput("listening on", 15_000);
  const observer = await BrokerClient.connect(address, { role: "observer", lostWindowMs: 0, heartbeatMs });
  const state = new RoundState();
  let firstStartMs = 0;
  let lastAppendMs = 0;
  // Declares are idempotent: the observer may get here before the leader has declared the exchange.
  await observer.declareExchange(MUTEX_FANOUT(round), "fanout");
  const queue = await observer.declareQueue();
  await observer.bindQueue(queue, MUTEX_FANOUT(round));
  await observer.consume(queue, (d) => {
    const message = parsed(fanoutMessage, d.body);
    if (message === undefined) return;
    const change = state.apply(message);
    if (change === "started") firstStartMs = performance.now();
    if (change === "appended") {
      lastAppendMs = performance.now();
      options.onProgress?.(state.list.length);
    }
  }, { autoAck: true });
  const children = await booting;
  options.onStarted?.(leader, children);
  const finished = Promise.all([...children.map((c) => c.exited), leader.exited]);
  const timedOut = await Promise.race([finished.then(() => false), Bun.sleep(limits.mutexRunTimeoutMs).then(() => true)]);
  await observer.close().catch(() => {});
  if (timedOut) for (const child of [leader, ...children]) child.kill("SIGKILL");
  const lists = children.map((c) => parsed(slaveResult, c.lastJsonLine())).filter((r) => r !== undefined).map((r) => r.list);
  const first = JSON.stringify(lists[0] ?? null);
  return {
    slaves,
    lists,
    identical: lists.length > 0 && lists.every((l) => JSON.stringify(l) === first),
    elapsedMs: Math.round(performance.now() - startedAt),
    protocolMs: Math.round(lastAppendMs - firstStartMs),
  };
}

/**
 * Start N slaves, at most `startingMax` booting at a time (each counts until it logs "ready"):
 * hundreds of runtimes booting at once starve the broker for seconds on a small machine.
 */
async function startSlaves(count: number, argsFor: (i: number) => string[], launch: { command?: string[]; waitListening: boolean }): Promise<LocalProcess[]> {
  const children: LocalProcess[] = [];
  let next = 0;
  const startOne = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const child = await LocalProcess.start(argsFor(i), launch);
      children[i] = child;
      await child.waitForLog("ready round=", 60_000).catch(() => {}); // a slave that fails shows in the results
    }
  };
  await Promise.all(Array.from({ length: Math.min(count, limits.launcherStartingMax) }, startOne));
  return children;
}
