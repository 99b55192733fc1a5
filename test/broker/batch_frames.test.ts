// Goal: the batch frames are what protocols/broker.md says, byte for byte, for a client in any
// language: deliver.batch entries are positional with trailing absences trimmed and at most
// batchMessagesMax per frame; publish.batch routes every valid entry and reports the failures.
// Method: a real broker, raw sockets speaking the protocol by hand.

import { expect, test } from "bun:test";
import { brokerClient as clientProtocol, type BatchedDelivery } from "../../protocols/broker.ts";
import type { RequestOf } from "../../protocols/protocol.ts";

type DeliverBatch = RequestOf<typeof clientProtocol, "deliver.batch">;
import { limits } from "../../src/limits.ts";
import { useBroker } from "../harness/broker_fixture.ts";
import { RawSocket } from "../harness/raw_socket.ts";
import { waitFor } from "../harness/wait_for.ts";

const broker = useBroker();

async function rawClient(): Promise<RawSocket> {
  const socket = await RawSocket.connect(broker().host, broker().port);
  await socket.hello();
  return socket;
}

test("publish.batch routes the valid entries and answers {routed, failed, firstError}; a malformed batch is refused whole", async () => {
  const s = await rawClient();
  s.send({ op: "queue.declare", id: 2, queue: "batch-in" });
  await s.next((f) => f.re === 2);
  s.send({ op: "publish.batch", id: 6, messages: [["", "batch-in", "never"], ["bad"]] });
  expect(await s.next((f) => f.re === 6)).toMatchObject({ op: "error", name: "BAD_ARGUMENT", message: expect.stringContaining('"messages.1"') });
  s.send({ op: "publish.batch", id: 3, messages: [["", "batch-in", "a"], ["", "no-such-queue", "b"], [null, "batch-in", "c", "reply-q", "c-1"]] });
  const reply = await s.next((f) => f.re === 3);
  expect(reply).toMatchObject({ op: "ok", routed: 2, failed: 1, firstError: { name: "NOT_FOUND" } });
  s.send({ op: "queue.get", id: 4, queue: "batch-in", autoAck: true });
  expect((await s.next((f) => f.re === 4)).message).toMatchObject({ body: "a" });
  s.send({ op: "queue.get", id: 5, queue: "batch-in", autoAck: true });
  expect((await s.next((f) => f.re === 5)).message).toMatchObject({ body: "c", replyTo: "reply-q", correlationId: "c-1" });
});

test("a one-way publish.batch with failures gets one error frame without re; the valid entries are queued", async () => {
  const s = await rawClient();
  s.send({ op: "queue.declare", id: 2, queue: "batch-oneway" });
  await s.next((f) => f.re === 2);
  s.send({ op: "publish.batch", messages: [["", "batch-oneway", 1], ["", "missing", 2]] });
  const error = await s.next((f) => f.op === "error");
  expect(error.re).toBeUndefined();
  expect(error).toMatchObject({ name: "NOT_FOUND" });
  expect(String(error.message)).toMatch(/1 of 2 batched publishes failed/);
  s.send({ op: "stats", id: 3, queue: "batch-oneway" });
  expect(((await s.next((f) => f.re === 3)).queues as Array<{ depth: number }>)[0]!.depth).toBe(1);
});

test("deliver.batch: [delivery, redelivered, ...the publish entry as published], at most batchMessagesMax per frame, always batched", async () => {
  const s = await rawClient();
  s.send({ op: "queue.declare", id: 2, queue: "batch-out" });
  await s.next((f) => f.re === 2);
  const count = limits.batchMessagesMax * 2 + 10;
  const messages = Array.from({ length: count }, (_, i) => (i === 0 ? ["", "batch-out", "first", "rq", "cid"] : ["", "batch-out", i]));
  for (let at = 0; at < count; at += limits.batchMessagesMax) {
    s.send({ op: "publish.batch", id: 10 + at, messages: messages.slice(at, at + limits.batchMessagesMax) });
    await s.next((f) => f.re === 10 + at);
  }
  s.send({ op: "consume", id: 3, queue: "batch-out", tag: "t", autoAck: true });
  const entries: BatchedDelivery[] = [];
  const frames: DeliverBatch[] = [];
  await waitFor(() => {
    for (let f = s.frames.shift(); f !== undefined; f = s.frames.shift()) {
      if (f.op === "deliver.batch") {
        frames.push(clientProtocol.ops["deliver.batch"].request.check(f));
        entries.push(...frames.at(-1)!.messages);
      }
    }
    return entries.length === count;
  });
  expect(frames.length).toBeGreaterThanOrEqual(2);
  for (const frame of frames) {
    expect(frame).toMatchObject({ tag: "t", queue: "batch-out" });
    expect(frame.messages.length).toBeLessThanOrEqual(limits.batchMessagesMax);
  }
  expect(entries[0]).toEqual([1, false, "", "batch-out", "first", "rq", "cid"]);
  expect(entries[1]).toEqual([2, false, "", "batch-out", 1]);
  expect(entries.map((e) => e[0])).toEqual(Array.from({ length: count }, (_, i) => i + 1));
});

test("a malformed publish.batch (not an array, too many entries) is BAD_ARGUMENT", async () => {
  const s = await rawClient();
  s.send({ op: "publish.batch", id: 2, messages: "nope" });
  expect(await s.next((f) => f.re === 2)).toMatchObject({ op: "error", name: "BAD_ARGUMENT" });
  s.send({ op: "publish.batch", id: 3, messages: Array.from({ length: limits.batchMessagesMax + 1 }, () => ["", "x", 1]) });
  expect(await s.next((f) => f.re === 3)).toMatchObject({ op: "error", name: "BAD_ARGUMENT" });
});
