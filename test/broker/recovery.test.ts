// Goal: clients come back, whole, after their broker restarts (it keeps nothing): everything they
// declared is restored in dependency order and retried until it can be, a consumer of a queue that
// another client declares waits for it, publishes made meanwhile are held and not lost, server-named
// reply queues keep their names, and a client keeps looking for as long as the broker is away.
// Method: a real broker process killed with SIGKILL and restarted on its port, five times.

import { afterAll, expect, test } from "bun:test";
import { BrokerClient } from "../../src/broker/broker_client.ts";
import { Logger } from "../../src/runtime/log.ts";
import { killAll, NodeProcess } from "../harness/node_process.ts";
import { waitFor } from "../harness/wait_for.ts";

const clients: BrokerClient[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await killAll();
});

async function connect(address: string, id: string): Promise<BrokerClient> {
  const client = await BrokerClient.connect(address, { id, heartbeatMs: 200 });
  clients.push(client);
  return client;
}

test("5 restarts: a consumer of a queue it did not declare is back every time, and held publishes all arrive", async () => {
  let broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
  const producer = await connect(broker.address, "producer");
  const consumer = await connect(broker.address, "consumer");
  await producer.declareQueue("jobs"); // only the producer declares it
  const got: number[] = [];
  await consumer.consume("jobs", (d) => {
    got.push(d.body as number);
    consumer.ack(d);
  });
  let next = 0;
  for (let restart = 1; restart <= 5; restart++) {
    // Published and consumed before the restart.
    for (let i = 0; i < 10; i++) await producer.publishConfirmed("", "jobs", next++);
    await waitFor(() => got.length === next, 5_000);
    broker.kill("SIGKILL");
    await broker.exited;
    await waitFor(() => !producer.upstream.isReady, 5_000);
    // Published while the broker is away: held, and sent once "jobs" is declared again.
    const heldFrom = next;
    for (let i = 0; i < 10; i++) expect(producer.publish("", "jobs", next++)).toBe(true);
    broker = await NodeProcess.start(["--role", "broker", "--listen", broker.address]);
    await waitFor(() => got.length === next, 10_000).catch(() => {
      throw new Error(`restart ${restart}: consumer got ${got.length - heldFrom} of the 10 held publishes`);
    });
    expect(got.slice(heldFrom)).toEqual([heldFrom, heldFrom + 1, heldFrom + 2, heldFrom + 3, heldFrom + 4, heldFrom + 5, heldFrom + 6, heldFrom + 7, heldFrom + 8, heldFrom + 9]);
  }
  expect(got).toEqual(Array.from({ length: next }, (_, i) => i));
}, 60_000);

test("a server-named reply queue keeps its name across a restart, so request/reply works after it", async () => {
  let broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
  const server = await connect(broker.address, "rpc-server");
  const client = await connect(broker.address, "rpc-client");
  await server.declareQueue("rpc");
  await server.consume("rpc", (d) => {
    server.sendToQueue(d.replyTo!, `re:${String(d.body)}`, { correlationId: d.correlationId });
    server.ack(d);
  });
  const replyQueue = await client.declareQueue();
  const replies: string[] = [];
  await client.consume(replyQueue, (d) => replies.push(d.body as string), { autoAck: true });
  client.sendToQueue("rpc", "one", { replyTo: replyQueue, correlationId: "1" });
  await waitFor(() => replies.length === 1);
  broker.kill("SIGKILL");
  await broker.exited;
  broker = await NodeProcess.start(["--role", "broker", "--listen", broker.address]);
  await waitFor(async () => (await client.stats().catch(() => null))?.queues.some((q) => q.queue === replyQueue && q.consumers === 1), 10_000);
  await waitFor(async () => (await server.stats().catch(() => null))?.queues.some((q) => q.queue === "rpc" && q.consumers === 1), 10_000);
  client.sendToQueue("rpc", "two", { replyTo: replyQueue, correlationId: "2" });
  await waitFor(() => replies.length === 2, 5_000);
  expect(replies).toEqual(["re:one", "re:two"]);
}, 30_000);

test("a client keeps looking for its broker, however long it is away (no attempt limit), and says so at a sane rate", async () => {
  let broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
  const lines: string[] = [];
  const client = await BrokerClient.connect(broker.address, { id: "patient", heartbeatMs: 200, log: new Logger("patient", "info", (line) => lines.push(line)) });
  clients.push(client);
  await client.declareQueue("patience");
  broker.kill("SIGKILL");
  await broker.exited;
  await Bun.sleep(4_000); // ~25 attempts at the backoff's ceiling of 2 s would have been most of the old budget
  expect(client.upstream.lost).toBeNull();
  // ~25 failed attempts, and one line about them (then one every 10 s), not one per attempt.
  expect(lines.filter((l) => l.includes(" looking-for ")).length).toBe(1);
  broker = await NodeProcess.start(["--role", "broker", "--listen", broker.address]);
  await waitFor(() => client.upstream.isReady, 5_000);
  await waitFor(async () => (await client.stats().catch(() => null))?.queues.some((q) => q.queue === "patience"), 5_000);
}, 30_000);
