// The broker benchmark: the InsultFilter workload on peer-node's broker and, in the same run, on
// Redis, NATS and RabbitMQ when they answer on loopback; fanout deliveries/s; latency at W = 1;
// RSS with 1M queued messages.

import { BrokerClient } from "../src/broker/broker_client.ts";
import { drive, type WorkloadResult } from "./insult_workload.ts";
import { NatsSystem } from "./systems/nats.ts";
import { PeerNodeSystem } from "./systems/peer_node.ts";
import { RabbitMqSystem } from "./systems/rabbitmq.ts";
import { RedisSystem } from "./systems/redis.ts";
import { startWorker, type BenchSystem } from "./systems/system.ts";

export interface BrokerBenchOptions {
  messages: number;
  windows: number[];
  latencyMessages: number;
}

export interface Row {
  system: string;
  window: number;
  result: WorkloadResult | null;
  note?: string;
}

async function runOne(system: BenchSystem, messages: number, window: number): Promise<WorkloadResult> {
  const runId = `${system.name}-${window}-${Date.now() % 1e6}`;
  const address = await system.prepare(runId);
  const worker = await startWorker(system.name, address, runId, window);
  try {
    return await drive(`${system.name} W=${window}`, messages, window, (onReply) => system.connectClient(runId, window, onReply));
  } finally {
    worker.kill("SIGKILL");
    await worker.exited;
  }
}

export async function runBrokerBench(options: BrokerBenchOptions): Promise<{ rows: Row[]; fanoutPerSec: number; memory: { peakMb: number; settledMb: number }; peer: PeerNodeSystem }> {
  const peer = new PeerNodeSystem();
  const systems: BenchSystem[] = [peer, new RedisSystem(), new NatsSystem(), new RabbitMqSystem()];
  const rows: Row[] = [];
  for (const system of systems) {
    const why = await system.unreachable();
    for (const window of [...options.windows, 1]) {
      if (why !== null) {
        rows.push({ system: system.name, window, result: null, note: `unreachable: ${why}` });
        continue;
      }
      const messages = window === 1 ? options.latencyMessages : options.messages;
      try {
        rows.push({ system: system.name, window, result: await runOne(system, messages, window) });
      } catch (err) {
        rows.push({ system: system.name, window, result: null, note: `failed: ${(err as Error).message}` });
      }
    }
  }
  const fanoutPerSec = await fanoutBench(peer.address);
  peer.stop();
  const memory = await memoryBench();
  return { rows, fanoutPerSec, memory, peer };
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
