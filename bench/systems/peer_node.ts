// peer-node's broker: a work queue with manual acks and prefetch W; replies go to the client's
// server-named reply queue with a correlation id (the seeds' RabbitMQ pattern, on our broker).

import { resolve } from "node:path";
import { BrokerClient } from "../../src/broker/broker_client.ts";
import { LocalProcess } from "../../src/launcher/local_process.ts";
import { censor } from "../insult_workload.ts";
import type { BenchSystem } from "./system.ts";

export async function runWorker(address: string, runId: string, window: number): Promise<void> {
  const client = await BrokerClient.connect(address, { role: "worker" });
  const queue = `texts-${runId}`;
  await client.declareQueue(queue);
  await client.consume(queue, (d) => {
    client.sendToQueue(d.replyTo!, censor(d.body as string), { correlationId: d.correlationId });
    client.ack(d);
  }, { prefetch: window });
}

/** Starts our broker as its own process (like redis-server), so the comparison is process to process. */
export class PeerNodeSystem implements BenchSystem {
  name = "peer-node";
  clients = "BrokerClient; client: one publish.batch per turn, replies no-ack; worker: prefetch W, one ack frame per turn";
  private broker: LocalProcess | null = null;
  address = "";

  async unreachable(): Promise<string | null> {
    return null;
  }

  async start(): Promise<void> {
    const entry = resolve(import.meta.dir, "../../bin/node.ts");
    this.broker = await LocalProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--log-level", "warn"], { command: [process.execPath, entry] });
    this.address = this.broker.address;
  }

  get pid(): number {
    return this.broker?.pid ?? 0;
  }

  serverPid(): number | null {
    return this.broker?.pid ?? null;
  }

  stop(): void {
    this.broker?.kill("SIGKILL");
  }

  async prepare(): Promise<string> {
    if (this.broker === null) await this.start();
    return this.address;
  }

  async connectClient(runId: string, _window: number, onReply: (seq: number, reply: string) => void) {
    const client = await BrokerClient.connect(this.address, { role: "bench-client" });
    const queue = `texts-${runId}`;
    await client.declareQueue(queue);
    const replyQueue = await client.declareQueue();
    await client.consume(replyQueue, (d) => onReply(Number(d.correlationId), d.body as string), { autoAck: true });
    return {
      send: (seq: number, text: string) => {
        client.sendToQueue(queue, text, { replyTo: replyQueue, correlationId: String(seq) });
      },
      close: () => client.close(),
    };
  }
}
