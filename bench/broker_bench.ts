// The broker benchmark: the InsultFilter workload on peer-node's broker and, in the same run, on
// Redis (lists and streams), NATS and RabbitMQ when they answer on loopback, each driven by the
// client its best users would write (bench/systems/). Several repetitions with the systems' order
// rotating, so a slow patch of the shared machine does not land on one system; medians, ranges,
// ratios pair by pair, and CPU seconds per 100k round trips of each process. Then fanout and the
// memory of 1M queued messages.

import { BrokerClient } from "../src/broker/broker_client.ts";
import { drive, type WorkloadResult } from "./insult_workload.ts";
import { NatsSystem } from "./systems/nats.ts";
import { PeerNodeSystem } from "./systems/peer_node.ts";
import { RabbitMqSystem } from "./systems/rabbitmq.ts";
import { RedisSystem } from "./systems/redis.ts";
import { RedisStreamsSystem } from "./systems/redis_streams.ts";
import { startWorker, type BenchSystem } from "./systems/system.ts";

export interface BrokerBenchOptions {
  messages: number;
  windows: number[];
  latencyMessages: number;
  reps: number;
  /** Only these systems (names), peer-node always included. */
  only?: string[];
}

export interface CpuPer100k {
  server: number | null;
  worker: number;
  client: number;
}

export interface RunResult extends WorkloadResult {
  cpu: CpuPer100k;
}

export interface Cell {
  system: string;
  window: number;
  runs: RunResult[];
  note?: string;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used, from /proc. */
async function cpuSeconds(pid: number | null): Promise<number | null> {
  if (pid === null) return null;
  try {
    const fields = (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

async function runOne(system: BenchSystem, messages: number, window: number): Promise<RunResult> {
  const runId = `${system.name}-${window}-${Date.now() % 1e6}`;
  const address = await system.prepare(runId);
  const worker = await startWorker(system.name, address, runId, window);
  try {
    const server0 = await cpuSeconds(system.serverPid());
    const worker0 = (await cpuSeconds(worker.pid))!;
    const client0 = selfCpuSeconds();
    const result = await drive(`${system.name} W=${window}`, messages, window, (onReply) => system.connectClient(runId, window, onReply));
    const server1 = await cpuSeconds(system.serverPid());
    const worker1 = (await cpuSeconds(worker.pid))!;
    const per100k = (seconds: number): number => (seconds * 100_000) / messages;
    return {
      ...result,
      cpu: {
        server: server0 === null || server1 === null ? null : per100k(server1 - server0),
        worker: per100k(worker1 - worker0),
        client: per100k(selfCpuSeconds() - client0),
      },
    };
  } finally {
    worker.kill("SIGKILL");
    await worker.exited;
  }
}

export function benchSystems(only?: string[]): BenchSystem[] {
  const all: BenchSystem[] = [new PeerNodeSystem(), new RedisSystem(), new RedisStreamsSystem(), new NatsSystem(), new RabbitMqSystem()];
  return only === undefined ? all : all.filter((s) => s.name === "peer-node" || only.includes(s.name));
}

export async function runBrokerBench(options: BrokerBenchOptions): Promise<{ cells: Cell[]; systems: BenchSystem[]; fanoutPerSec: number; memory: { peakMb: number; settledMb: number } }> {
  const systems = benchSystems(options.only);
  const cells = new Map<string, Cell>();
  const cell = (system: string, window: number): Cell => {
    const key = `${system}/${window}`;
    let c = cells.get(key);
    if (c === undefined) cells.set(key, (c = { system, window, runs: [] }));
    return c;
  };
  const unreachable = new Map<string, string>();
  for (const system of systems) {
    const why = await system.unreachable();
    if (why !== null) unreachable.set(system.name, why);
  }
  for (let rep = 0; rep < options.reps; rep++) {
    for (const window of [...options.windows, 1]) {
      // The systems take turns going first, rep after rep.
      const order = systems.map((_, i) => systems[(i + rep) % systems.length]!);
      for (const system of order) {
        const c = cell(system.name, window);
        const why = unreachable.get(system.name);
        if (why !== undefined) {
          c.note = `unreachable: ${why}`;
          continue;
        }
        try {
          c.runs.push(await runOne(system, window === 1 ? options.latencyMessages : options.messages, window));
        } catch (err) {
          c.note = `failed: ${(err as Error).message}`;
        }
      }
    }
  }
  const peer = systems[0] as PeerNodeSystem;
  const fanoutPerSec = await fanoutBench(peer.address);
  peer.stop();
  const memory = await memoryBench();
  return { cells: [...cells.values()], systems, fanoutPerSec, memory };
}

/** Deliveries per second from one publisher through a fanout exchange to 10 subscriber queues. */
async function fanoutBench(address: string, messages = 50_000, subscribers = 10): Promise<number> {
  const pub = await BrokerClient.connect(address, { role: "bench" });
  await pub.declareExchange("bench-fanout", "fanout");
  const subs: BrokerClient[] = [];
  let delivered = 0;
  const total = messages * subscribers;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  for (let i = 0; i < subscribers; i++) {
    const sub = await BrokerClient.connect(address, { role: "bench" });
    const q = await sub.declareQueue();
    await sub.bindQueue(q, "bench-fanout");
    await sub.consume(q, () => {
      if (++delivered === total) finish();
    }, { autoAck: true });
    subs.push(sub);
  }
  const started = performance.now();
  for (let i = 0; i < messages; i++) {
    pub.publish("bench-fanout", "", `fanout message number ${i} with some padding to make it about 85 bytes long....`);
    if (i % 1000 === 999) await pub.publishConfirmed("bench-fanout", "", "sync");
  }
  await done;
  const perSec = total / ((performance.now() - started) / 1000);
  await Promise.all([pub, ...subs].map((c) => c.close()));
  return perSec;
}

/** RSS of a fresh broker holding 1M queued 100-byte messages: right after loading, and settled 2 s later. */
async function memoryBench(count = 1_000_000): Promise<{ peakMb: number; settledMb: number }> {
  const broker = new PeerNodeSystem();
  await broker.start();
  const client = await BrokerClient.connect(broker.address, { role: "bench" });
  await client.declareQueue("memory");
  const body = "x".repeat(100);
  for (let i = 0; i < count; i++) {
    client.sendToQueue("memory", body);
    if (i % 10_000 === 9_999) {
      await client.publishConfirmed("", "memory", body);
      process.stderr.write(`\r  memory: ${(i + 1).toLocaleString()} queued   `);
    }
  }
  process.stderr.write("\r" + " ".repeat(40) + "\r");
  const depth = (await client.stats("memory")).queues[0]!.depth;
  const rssMb = async (): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await Bun.file(`/proc/${broker.pid}/status`).text())?.[1] ?? 0) / 1024;
  const peakMb = await rssMb();
  await Bun.sleep(2_000); // the garbage of decoded frames is collected; the messages stay
  const settledMb = await rssMb();
  await client.close();
  broker.stop();
  if (depth < count) throw new Error(`memory bench: only ${depth} messages queued`);
  return { peakMb, settledMb };
}

// ---- summaries -----------------------------------------------------------------------------

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** " (min–max)" of several repetitions, for a table cell after the median; nothing for one. */
export function rangeText(values: number[], digits = 0): string {
  return values.length < 2 ? "" : ` (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
}

/** peer-node ÷ system for each repetition (same rep, same conditions), as median and range. */
export function ratios(peer: Cell | undefined, other: Cell): number[] {
  if (peer === undefined) return [];
  const n = Math.min(peer.runs.length, other.runs.length);
  return Array.from({ length: n }, (_, i) => peer.runs[i]!.msgPerSec / other.runs[i]!.msgPerSec);
}
