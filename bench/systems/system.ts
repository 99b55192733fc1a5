// One system under test in the broker benchmark: how to reach it, start its worker process, and
// connect the benchmark's client. Every system is driven the way its best users would drive it
// (batched, pipelined): the ratio means nothing otherwise.

import { resolve } from "node:path";
import { LocalProcess } from "../../src/launcher/local_process.ts";
import type { WorkloadClient } from "../insult_workload.ts";

export interface BenchSystem {
  /** Short name, also the worker's module (bench/worker.ts). */
  name: string;
  /** How client and worker use it, for the table. */
  clients: string;
  /** Null when reachable; otherwise why not (the bench says so instead of failing). */
  unreachable(): Promise<string | null>;
  /** Prepare a fresh run (purge queues) and return the address the worker gets. */
  prepare(runId: string): Promise<string>;
  connectClient(runId: string, window: number, onReply: (seq: number, reply: string) => void): Promise<WorkloadClient>;
  /** The server process, for its CPU seconds (null when not known). */
  serverPid(): number | null;
  stop?(): void;
}

const WORKER = resolve(import.meta.dir, "../worker.ts");

/** Start the worker process for `system` and wait for its "ready" line. */
export async function startWorker(system: string, address: string, runId: string, window: number): Promise<LocalProcess> {
  const worker = await LocalProcess.start([system, address, runId, String(window)], { command: [process.execPath, WORKER], waitListening: false });
  await worker.waitForOutput("ready", 15_000);
  return worker;
}

export async function tcpOpen(host: string, port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: host, port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

/** The pid of a running program by its exact name (pgrep -x), for servers we did not start. */
export function pidOf(program: string): number | null {
  const found = Bun.spawnSync(["pgrep", "-xo", program], { stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
  return found === "" ? null : Number(found);
}

/** Calls `flush` with everything gathered during this event-loop turn: one command per turn. */
export function perTurn<T>(flush: (items: T[]) => void): (item: T) => void {
  let items: T[] = [];
  let scheduled = false;
  return (item) => {
    items.push(item);
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      const batch = items;
      items = [];
      flush(batch);
    });
  };
}
