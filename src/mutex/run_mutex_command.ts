// `./node run mutex --slaves N [--json]`: like PyWren's map, start the leader (hosting the broker)
// and N slave processes here, show progress while they work, collect every slave's list and print
// them with a verdict and the elapsed time.

import type { FanoutMessage, SlaveResult } from "../../protocols/mutex.ts";
import { MUTEX_FANOUT } from "../../protocols/mutex.ts";
import { BrokerClient } from "../broker/broker_client.ts";
import type { Flags } from "../cli/args.ts";
import { Progress } from "../cli/progress.ts";
import type { CommandSpec } from "../cli/role.ts";
import { UsageError } from "../cli/usage_error.ts";
import { freePort, killAll, LocalProcess } from "../launcher/local_process.ts";
import { limits } from "../limits.ts";
import { runMapReduceDemo } from "../mapreduce/demo.ts";
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
  const observer = await BrokerClient.connect(address, { role: "observer", reconnect: false, heartbeatMs });
  const state = new RoundState();
  let firstStartMs = 0;
  let lastAppendMs = 0;
  // Declares are idempotent: the observer may get here before the leader has declared the exchange.
  await observer.declareExchange(MUTEX_FANOUT(round), "fanout");
  const queue = await observer.declareQueue();
  await observer.bindQueue(queue, MUTEX_FANOUT(round));
  await observer.consume(queue, (d) => {
    const change = state.apply(d.body as FanoutMessage);
    if (change === "started") firstStartMs = performance.now();
    if (change === "appended") {
      lastAppendMs = performance.now();
      options.onProgress?.(state.list.length);
    }
  }, { autoAck: true });
  const children = await booting;
  options.onStarted?.(leader, children);
  await Promise.all(children.map((c) => c.exited));
  await observer.close().catch(() => {});
  await leader.exited;
  const lists = children.map((c) => c.lastJsonLine<SlaveResult>()).filter((r): r is SlaveResult => r !== null).map((r) => r.list);
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

export const runCommand: CommandSpec = {
  name: "run",
  summary: "run a scenario with local processes: `run mapreduce` (the demo), `run mutex --slaves N [--json]`",
  flags: [
    { name: "slaves", type: "int", valueName: "N", help: `mutex: number of slave processes (1..${limits.mutexSlavesMax})` },
    { name: "json", type: "boolean", help: "print one JSON object instead of text" },
    { name: "workers", type: "int", valueName: "N", min: 2, max: 64, help: "mapreduce: number of workers (default 3)" },
    { name: "size-mb", type: "int", valueName: "N", min: 1, max: 1024, help: "mapreduce: size of the generated corpus (default 6)" },
  ],
  async run(flags: Flags, positionals: string[]) {
    const scenario = positionals[0];
    if (scenario === "mapreduce") {
      const result = await runMapReduceDemo({ workers: flags.int("workers", 3), sizeMb: flags.int("size-mb", 6) });
      return result.identical ? 0 : 1;
    }
    if (scenario !== "mutex") throw new UsageError(`run: unknown scenario ${scenario === undefined ? "(none)" : `"${scenario}"`}; scenarios: mapreduce, mutex`);
    if (!flags.has("slaves")) throw new UsageError("run mutex needs --slaves N");
    const slaves = flags.int("slaves", 0);
    if (slaves < 1 || slaves > limits.mutexSlavesMax) throw new UsageError(`--slaves: ${slaves} is out of range 1..${limits.mutexSlavesMax}`);
    const progress = new Progress("appends", slaves);
    let result: MutexRunResult;
    try {
      result = await runMutex({ slaves, onProgress: (n) => progress.update(n) });
    } finally {
      progress.finish();
      await killAll();
    }
    if (flags.bool("json")) {
      process.stdout.write(JSON.stringify({ slaves: result.slaves, lists: result.lists, identical: result.identical, elapsedMs: result.elapsedMs, protocolMs: result.protocolMs }) + "\n");
    } else {
      const shown = result.lists.length <= 20 ? result.lists : result.lists.slice(0, 3);
      result.lists.forEach((list, i) => i < shown.length && process.stdout.write(`slave-${String(i + 1).padStart(3, "0")}: ${JSON.stringify(list)}\n`));
      if (shown.length < result.lists.length) process.stdout.write(`… and ${result.lists.length - shown.length} more lists (use --json for all)\n`);
      process.stdout.write(`${result.identical ? "IDENTICAL" : "DIFFERENT"}: ${result.lists.length} lists of ${result.lists[0]?.length ?? 0} numbers; ${result.elapsedMs} ms total, ${result.protocolMs} ms protocol\n`);
    }
    return result.identical && result.lists.length === slaves ? 0 : 1;
  },
};
