// RabbitMQ with amqplib, driven as its best users drive a work queue: the worker consumes with
// prefetch W and acks each turn's deliveries with one multiple-ack; replies go to the client's
// exclusive reply queue with a correlation id; the client publishes without confirms (amqplib
// buffers its writes) and consumes replies with no-ack.

import amqp from "amqplib";
import { censor } from "../insult_workload.ts";
import { perTurn, pidOf, tcpOpen, type BenchSystem } from "./system.ts";

const URL = "amqp://guest:guest@127.0.0.1:5672";

export async function runWorker(_address: string, runId: string, window: number): Promise<void> {
  const conn = await amqp.connect(URL);
  const ch = await conn.createChannel();
  const queue = `texts-${runId}`;
  await ch.assertQueue(queue, { durable: false });
  await ch.prefetch(window);
  // One multiple-ack per turn: the last delivery of the turn acks all before it.
  const ack = perTurn<amqp.ConsumeMessage>((batch) => ch.ack(batch.at(-1)!, true));
  await ch.consume(queue, (msg) => {
    if (msg === null) return;
    ch.sendToQueue(msg.properties.replyTo, Buffer.from(censor(msg.content.toString())), { correlationId: msg.properties.correlationId });
    ack(msg);
  });
}

export class RabbitMqSystem implements BenchSystem {
  name = "rabbitmq";
  clients = "amqplib; client: publish without confirms, replies no-ack; worker: prefetch W, one multiple-ack per turn";
  async unreachable(): Promise<string | null> {
    return (await tcpOpen("127.0.0.1", 5672)) ? null : "nothing listens on 127.0.0.1:5672";
  }
  serverPid(): number | null {
    return pidOf("beam.smp");
  }
  async prepare(runId: string): Promise<string> {
    const conn = await amqp.connect(URL);
    const ch = await conn.createChannel();
    await ch.deleteQueue(`texts-${runId}`);
    await conn.close();
    return URL;
  }
  async connectClient(runId: string, _window: number, onReply: (seq: number, reply: string) => void) {
    const conn = await amqp.connect(URL);
    const ch = await conn.createChannel();
    const queue = `texts-${runId}`;
    await ch.assertQueue(queue, { durable: false });
    const { queue: replyQueue } = await ch.assertQueue("", { exclusive: true });
    await ch.consume(replyQueue, (msg) => msg && onReply(Number(msg.properties.correlationId), msg.content.toString()), { noAck: true });
    return {
      send: (seq: number, text: string) => {
        ch.sendToQueue(queue, Buffer.from(text), { replyTo: replyQueue, correlationId: String(seq) });
      },
      close: () => conn.close(),
    };
  }
}
