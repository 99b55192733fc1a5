// Goal: the broker's messaging keeps RabbitMQ's semantics the seeds relied on: routing, round-robin,
// prefetch, acks/nacks, redelivery of a dead consumer's messages, exclusive queues, overflow and
// confirms. Method: a real broker process, real clients; consumers that must die are processes.

import { describe, expect, test } from "bun:test";
import type { Delivery } from "../../src/broker/broker_client.ts";
import { PeerError } from "../../src/errors.ts";
import { brokerClient, useBroker } from "../harness/broker_fixture.ts";
import { NodeProcess } from "../harness/node_process.ts";
import { RawSocket } from "../harness/raw_socket.ts";
import { waitFor } from "../harness/wait_for.ts";

const broker = useBroker();

/** A consumer process that never acks (test/fixtures/consumer.ts), started and consuming. */
function startSilentConsumer(queue: string, prefetch: number): Promise<NodeProcess> {
  return NodeProcess.startScript("test/fixtures/consumer.ts", [broker().address, queue, String(prefetch), "-1"], "consuming");
}

let n = 0;
const fresh = (prefix: string): string => `${prefix}-${++n}`;

describe("routing", () => {
  test("fanout reaches every one of N bound queues", async () => {
    const c = await brokerClient(broker());
    const exchange = fresh("fan");
    await c.declareExchange(exchange, "fanout");
    const queues = await Promise.all(Array.from({ length: 8 }, async () => {
      const q = await c.declareQueue(fresh("fq"));
      await c.bindQueue(q, exchange);
      return q;
    }));
    expect(await c.publishConfirmed(exchange, "ignored", "hello all")).toBe(8);
    for (const q of queues) expect((await c.getMessage(q, true))?.body).toBe("hello all");
  });

  test("direct routes by exact key; the default exchange routes by queue name", async () => {
    const c = await brokerClient(broker());
    const ex = fresh("direct");
    await c.declareExchange(ex, "direct");
    const red = await c.declareQueue(fresh("red"));
    const blue = await c.declareQueue(fresh("blue"));
    await c.bindQueue(red, ex, "red");
    await c.bindQueue(blue, ex, "blue");
    expect(await c.publishConfirmed(ex, "red", "r")).toBe(1);
    expect(await c.publishConfirmed(ex, "green", "g")).toBe(0);
    expect(await c.publishConfirmed("", blue, "b")).toBe(1);
    expect((await c.getMessage(red, true))?.body).toBe("r");
    expect((await c.getMessage(blue, true))?.body).toBe("b");
    expect(await c.getMessage(red, true)).toBeNull();
  });

  test("re-declaring an exchange with another type is PRECONDITION_FAILED, not a silent change", async () => {
    const c = await brokerClient(broker());
    const ex = fresh("typed");
    await c.declareExchange(ex, "fanout");
    await c.declareExchange(ex, "fanout");
    const err = await c.declareExchange(ex, "direct").catch((e) => e);
    expect(err).toBeInstanceOf(PeerError);
    expect(err.name).toBe("PRECONDITION_FAILED");
  });
});

describe("work queues", () => {
  test("three consumers are served round-robin (one each in turn when all have room)", async () => {
    const p = await brokerClient(broker());
    const q = await p.declareQueue(fresh("rr"));
    const got: string[][] = [[], [], []];
    for (let i = 0; i < 3; i++) {
      const c = await brokerClient(broker());
      await c.consume(q, (d) => {
        got[i]!.push(String(d.body));
        c.ack(d);
      }, { prefetch: 100 });
    }
    for (let i = 0; i < 30; i++) p.sendToQueue(q, `m${i}`);
    await waitFor(() => got.flat().length === 30);
    for (const list of got) expect(list).toHaveLength(10);
    expect(got.flat().sort()).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`).sort());
  });

  test("prefetch bounds unacked deliveries per consumer", async () => {
    const p = await brokerClient(broker());
    const q = await p.declareQueue(fresh("pf"));
    for (let i = 0; i < 20; i++) p.sendToQueue(q, i);
    const c = await brokerClient(broker());
    const held: Delivery[] = [];
    await c.consume(q, (d) => held.push(d), { prefetch: 5 });
    await waitFor(() => held.length === 5);
    await Bun.sleep(100);
    expect(held).toHaveLength(5);
    const stats = (await p.stats(q)).queues[0]!;
    expect(stats).toMatchObject({ depth: 15, unacked: 5, consumers: 1 });
    c.ack(held[0]!);
    c.ack(held[1]!);
    await waitFor(() => held.length === 7);
    await Bun.sleep(100);
    expect(held).toHaveLength(7);
  });

  test("nack with requeue redelivers (marked redelivered); nack without requeue drops", async () => {
    const c = await brokerClient(broker());
    const q = await c.declareQueue(fresh("nack"));
    c.sendToQueue(q, "a");
    const seen: Delivery[] = [];
    await c.consume(q, (d) => seen.push(d), { prefetch: 1 });
    await waitFor(() => seen.length === 1);
    expect(seen[0]!.redelivered).toBe(false);
    c.nack(seen[0]!, true);
    await waitFor(() => seen.length === 2);
    expect(seen[1]).toMatchObject({ body: "a", redelivered: true });
    c.nack(seen[1]!, false);
    await Bun.sleep(100);
    expect(seen).toHaveLength(2);
    expect((await c.stats(q)).queues[0]).toMatchObject({ depth: 0, unacked: 0, dropped: 1 });
  });

  test("a SIGKILLed consumer's unacked messages all go to another consumer; none lost", async () => {
    const q = fresh("crash");
    const p = await brokerClient(broker());
    await p.declareQueue(q);
    const consumer = await startSilentConsumer(q, 50);
    for (let i = 0; i < 40; i++) p.sendToQueue(q, `m${i}`);
    await waitFor(() => consumer.outputLines("got ").length === 40, 5_000);
    consumer.kill("SIGKILL");
    await consumer.exited;
    const survivor = await brokerClient(broker());
    const got: Delivery[] = [];
    await survivor.consume(q, (d) => {
      got.push(d);
      survivor.ack(d);
    }, { prefetch: 100 });
    await waitFor(() => got.length === 40, 5_000);
    expect(got.map((d) => d.body)).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`));
    expect(got.every((d) => d.redelivered)).toBe(true);
    await Bun.sleep(100);
    expect(got).toHaveLength(40);
    expect((await p.stats(q)).queues[0]).toMatchObject({ depth: 0, unacked: 0, redelivered: 40 });
  });

  test("with no failure, 2000 messages over 4 consumers are each processed exactly once", async () => {
    const p = await brokerClient(broker());
    const q = await p.declareQueue(fresh("once"));
    const counts = new Map<string, number>();
    for (let i = 0; i < 4; i++) {
      const c = await brokerClient(broker());
      await c.consume(q, (d) => {
        counts.set(String(d.body), (counts.get(String(d.body)) ?? 0) + 1);
        c.ack(d);
      }, { prefetch: 20 });
    }
    for (let i = 0; i < 2000; i++) p.sendToQueue(q, `m${i}`);
    await waitFor(() => counts.size === 2000, 10_000);
    await Bun.sleep(100);
    expect([...counts.values()].every((v) => v === 1)).toBe(true);
  });

  test("a consumer declared dead by heartbeats (SIGSTOP) has its messages redelivered", async () => {
    const q = fresh("stopped");
    const p = await brokerClient(broker());
    await p.declareQueue(q);
    const consumer = await startSilentConsumer(q, 10);
    for (let i = 0; i < 10; i++) p.sendToQueue(q, `s${i}`);
    await waitFor(() => consumer.outputLines("got ").length === 10);
    consumer.pause();
    const survivor = await brokerClient(broker());
    const got: Delivery[] = [];
    await survivor.consume(q, (d) => {
      got.push(d);
      survivor.ack(d);
    });
    await waitFor(() => got.length === 10, 3_000);
    expect(got.every((d) => d.redelivered)).toBe(true);
  });
});

describe("queues", () => {
  test("a server-named exclusive queue disappears with its connection; others get RESOURCE_LOCKED", async () => {
    const owner = await brokerClient(broker());
    const other = await brokerClient(broker());
    const q = await owner.declareQueue();
    expect(q).toMatch(/^q\.gen-/);
    const locked = await other.consume(q, () => {}).catch((e) => e);
    expect(locked.name).toBe("RESOURCE_LOCKED");
    expect(await other.publishConfirmed("", q, "reply")).toBe(1); // publishing to a reply queue is allowed
    await owner.close();
    await waitFor(async () => (await other.stats()).queues.every((s) => s.queue !== q));
  });

  test("overflow reject: QUEUE_FULL at maxLength; drop-oldest keeps the newest", async () => {
    const c = await brokerClient(broker());
    const rejectQ = await c.declareQueue(fresh("full"), { maxLength: 3 });
    for (let i = 0; i < 3; i++) await c.publishConfirmed("", rejectQ, i);
    const err = await c.publishConfirmed("", rejectQ, 3).catch((e) => e);
    expect(err.name).toBe("QUEUE_FULL");
    expect(err.definite).toBe(true);
    const dropQ = await c.declareQueue(fresh("drop"), { maxLength: 3, overflow: "drop-oldest" });
    for (let i = 0; i < 5; i++) await c.publishConfirmed("", dropQ, i);
    const bodies = [];
    for (let i = 0; i < 3; i++) bodies.push((await c.getMessage(dropQ, true))?.body);
    expect(bodies).toEqual([2, 3, 4]);
    expect((await c.stats(dropQ)).queues[0]!.dropped).toBe(2);
  });

  test("re-declaring a queue with other properties is PRECONDITION_FAILED", async () => {
    const c = await brokerClient(broker());
    const q = await c.declareQueue(fresh("props"), { maxLength: 10 });
    await c.declareQueue(q);
    expect((await c.declareQueue(q, { maxLength: 11 }).catch((e) => e)).name).toBe("PRECONDITION_FAILED");
  });

  test("a confirmed publish resolves only once queued; one to a missing queue gets NOT_FOUND", async () => {
    const c = await brokerClient(broker());
    const q = await c.declareQueue(fresh("confirm"));
    expect(await c.publishConfirmed("", q, "x")).toBe(1);
    expect((await c.stats(q)).queues[0]!.depth).toBe(1);
    const err = await c.publishConfirmed("", "no-such-queue", "x").catch((e) => e);
    expect(err.name).toBe("NOT_FOUND");
  });

  test("request/reply through a reply queue and correlation id (the seeds' RPC pattern)", async () => {
    const server = await brokerClient(broker());
    const rpcQ = await server.declareQueue(fresh("rpc"));
    await server.consume(rpcQ, (d) => {
      server.sendToQueue(d.replyTo!, String(d.body).toUpperCase(), { correlationId: d.correlationId });
      server.ack(d);
    });
    const caller = await brokerClient(broker());
    const replyQ = await caller.declareQueue();
    const replies = new Map<string, unknown>();
    await caller.consume(replyQ, (d) => replies.set(d.correlationId!, d.body), { autoAck: true });
    for (let i = 0; i < 10; i++) caller.sendToQueue(rpcQ, `hi ${i}`, { replyTo: replyQ, correlationId: `c${i}` });
    await waitFor(() => replies.size === 10);
    expect(replies.get("c7")).toBe("HI 7");
  });
});

describe("bad arguments keep the connection open", () => {
  test("unknown queue, ack of an unknown delivery, bad field types: typed errors, connection still works", async () => {
    const c = await brokerClient(broker());
    expect((await c.consume("nope", () => {}).catch((e) => e)).name).toBe("NOT_FOUND");
    expect((await c.upstream.request("ack", { delivery: 999 }).catch((e) => e)).name).toBe("NOT_FOUND");
    expect((await c.upstream.request("queue.declare", { queue: 5 }).catch((e) => e)).name).toBe("BAD_ARGUMENT");
    expect((await c.upstream.request("consume", { queue: "x", prefetch: -1 }).catch((e) => e)).name).toBe("BAD_ARGUMENT");
    expect((await c.upstream.request("publish", { key: "x" }).catch((e) => e)).name).toBe("BAD_ARGUMENT");
    expect((await c.upstream.request("queue.declare", { queue: "x".repeat(300) }).catch((e) => e)).name).toBe("BAD_ARGUMENT");
    expect(c.upstream.isReady).toBe(true);
    expect((await c.upstream.request("ping", {})).op).toBe("ok");
  });

  test("a publish larger than the broker accepts is refused before it is sent (definite); the connection stays up", async () => {
    const c = await brokerClient(broker(), { lostWindowMs: 0 });
    const err = await c.publishConfirmed("", "x", "y".repeat(2 * 1024 * 1024)).catch((e) => e);
    expect(err).toBeInstanceOf(PeerError);
    expect(err.name).toBe("TOO_LARGE_FOR_PEER");
    expect(err.definite).toBe(true);
    expect(c.upstream.isReady).toBe(true);
    expect((await c.upstream.request("ping", {})).op).toBe("ok");
  });

  test("a raw frame over the broker's frameBytesMax gets FRAME_TOO_LARGE and closes only that connection", async () => {
    const other = await brokerClient(broker());
    const raw = await RawSocket.connect(broker().host, broker().port);
    await raw.hello();
    raw.send({ op: "publish", key: "x", body: "y".repeat(2 * 1024 * 1024) });
    const error = await raw.next((f) => f.op === "error");
    expect(error.name).toBe("FRAME_TOO_LARGE");
    await raw.waitClosed();
    expect((await other.upstream.request("ping", {})).op).toBe("ok");
  });
});
