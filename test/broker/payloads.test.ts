// Goal: the broker treats payloads as bytes. A body it could not re-encode (an extension type, a
// 64-bit integer) cannot jam a queue: it is delivered like any other and the messages behind it
// too; bodies come out byte for byte as they went in; every byte a message holds (headers
// included) counts against the memory bound; and a malformed body never gets in. Method: raw
// publishes of hand-made and random msgpack bodies, a real consumer, a broker with a small bound.

import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Ext, encodeCopy } from "../../src/wire/msgpack.ts";
import { brokerClient, closeClients, startBroker } from "../harness/broker_fixture.ts";
import { killAll, type NodeProcess } from "../harness/node_process.ts";
import { RawSocket } from "../harness/raw_socket.ts";
import { waitFor } from "../harness/wait_for.ts";

afterAll(async () => {
  await closeClients();
  await killAll();
});

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s/g, ""), "hex"));

/** A publish frame body {op: "publish", id, key, body: <raw bytes>} built by hand around raw body bytes. */
function rawPublish(id: number, key: string, body: Uint8Array): Uint8Array {
  const head = encodeCopy({ op: "publish", id, key });
  // The head is a fixmap of 3 pairs: make it 4 and append "body": <bytes>.
  const out = new Uint8Array([0x84, ...head.subarray(1), ...encodeCopy("body"), ...body]);
  return out;
}

let broker: NodeProcess;

describe("poison bodies", () => {
  test("a body with an extension type and a 2^64-1 integer is delivered, and the 20 messages behind it too", async () => {
    broker = await startBroker();
    const raw = await RawSocket.connect(broker.host, broker.port);
    await raw.hello();
    raw.send({ op: "queue.declare", id: 1, queue: "poison" });
    await raw.next((f) => f.re === 1);
    raw.sendBody(rawPublish(2, "poison", hex("92 d4 01 07 cf ffffffffffffffff"))); // [fixext1(1, 0x07), 2^64-1]
    expect(await raw.next((f) => f.re === 2)).toMatchObject({ op: "ok", routed: 1 });
    for (let i = 0; i < 20; i++) raw.send({ op: "publish", key: "poison", body: `behind ${i}` });
    const consumer = await brokerClient(broker);
    const bodies: unknown[] = [];
    await consumer.consume("poison", (d) => {
      bodies.push(d.body);
      consumer.ack(d);
    });
    await waitFor(() => bodies.length === 21);
    expect(bodies[0]).toEqual([new Ext(1, new Uint8Array([7])), 2n ** 64n - 1n]);
    expect(bodies.slice(1)).toEqual(Array.from({ length: 20 }, (_, i) => `behind ${i}`));
    const stats = (await consumer.stats("poison")).queues[0]!;
    await waitFor(async () => (await consumer.stats("poison")).queues[0]!.unacked === 0);
    expect(stats.depth).toBe(0);
    raw.close();
  });

  test("random bodies (any msgpack value, extension types included) come out byte for byte", async () => {
    const publisher = await RawSocket.connect(broker.host, broker.port);
    await publisher.hello();
    publisher.send({ op: "queue.declare", id: 1, queue: "exact" });
    await publisher.next((f) => f.re === 1);
    const consumer = await RawSocket.connect(broker.host, broker.port);
    await consumer.hello();
    consumer.send({ op: "consume", id: 1, queue: "exact", autoAck: true, tag: "t" });
    await consumer.next((f) => f.re === 1);
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.uint8Array({ maxLength: 20 }), fc.record({ type: fc.integer({ min: -128, max: 127 }), data: fc.uint8Array({ minLength: 1, maxLength: 20 }) }).map((e) => new Ext(e.type, e.data)));
    const value = fc.letrec((tie) => ({ v: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("v"), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 5 }), tie("v"), { maxKeys: 4 })) })).v;
    const samples = fc.sample(value, 300);
    let id = 10;
    for (const sample of samples) publisher.sendBody(rawPublish(id++, "exact", encodeCopy(sample)));
    await waitFor(() => publisher.frames.filter((f) => f.op === "ok").length === samples.length, 10_000);
    await waitFor(() => consumer.bodies.length >= 2, 10_000);
    await waitFor(() => deliveredCount(consumer) === samples.length, 10_000);
    const received = Buffer.concat(consumer.bodies.map((b) => Buffer.from(b)));
    for (const sample of samples) expect(received.indexOf(Buffer.from(encodeCopy(sample)))).toBeGreaterThanOrEqual(0);
    publisher.close();
    consumer.close();
  });

  test("a body nested deeper than the bound is MALFORMED_FRAME and never queued", async () => {
    const raw = await RawSocket.connect(broker.host, broker.port);
    await raw.hello();
    raw.send({ op: "queue.declare", id: 1, queue: "deep" });
    await raw.next((f) => f.re === 1);
    raw.sendBody(rawPublish(2, "deep", new Uint8Array([...new Array(100).fill(0x91), 0x01])));
    expect(await raw.next((f) => f.op === "error")).toMatchObject({ name: "MALFORMED_FRAME" });
    await raw.waitClosed();
    const client = await brokerClient(broker);
    expect((await client.stats("deep")).queues[0]!.depth).toBe(0);
  });
});

function deliveredCount(socket: RawSocket): number {
  let n = 0;
  for (const f of socket.frames) {
    if (f.op === "deliver.batch") n += (f.messages as unknown[]).length;
  }
  return n;
}

describe("the memory bound counts every byte", () => {
  test("messages with 60 KiB headers are refused once the bound is reached; stats count the headers", async () => {
    const small = await startBroker(["--memory-mb", "16"]);
    const client = await brokerClient(small);
    await client.declareQueue("heavy");
    const headers = { blob: "h".repeat(60 * 1024) };
    let accepted = 0;
    let refusal: { name: string; message: string } | null = null;
    for (let i = 0; i < 1_000 && refusal === null; i++) {
      try {
        await client.publishConfirmed("", "heavy", "tiny", { headers });
        accepted++;
      } catch (err) {
        refusal = err as { name: string; message: string };
      }
    }
    expect(refusal?.name).toBe("LIMIT_EXCEEDED");
    // 16 MiB / ~61 KiB per message: about 268 fit. The old accounting counted only the 4-byte body.
    expect(accepted).toBeGreaterThan(250);
    expect(accepted).toBeLessThan(275);
    const stats = await client.stats();
    expect(stats.bytes).toBeGreaterThan(accepted * 60 * 1024);
    expect(stats.bytes).toBeLessThanOrEqual(16 * 2 ** 20);
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(await Bun.file(`/proc/${small.pid}/status`).text())?.[1] ?? 0) / 1024;
    expect(rssMb).toBeLessThan(300);
  });
});
