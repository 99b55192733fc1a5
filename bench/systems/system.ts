// One system under test in the broker benchmark: how to reach it, start its worker process, and
// connect the benchmark's client.

import { LocalProcess } from "../../src/launcher/local_process.ts";
import { resolve } from "node:path";
import type { WorkloadClient } from "../insult_workload.ts";

export interface BenchSystem {
  name: string;
  /** Null when reachable; otherwise why not (the bench says so instead of failing). */
  unreachable(): Promise<string | null>;
  /** Prepare a fresh run (purge queues) and return the address the worker gets. */
  prepare(runId: string): Promise<string>;
  connectClient(runId: string, window: number, onReply: (seq: number, reply: string) => void): Promise<WorkloadClient>;
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
