// Goal: the hand-written paths for the hottest frames (a broker's publish.batch, a client's
// deliver.batch) accept exactly what the generic path accepts — decode with the payload plan, then
// the protocol table's check — and give the same messages, with publish entries kept byte for byte.
// Method: random frames built by hand (any key order, every string width, integral float ids,
// unknown keys, junk in every field), each run through both paths.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { broker, brokerClient } from "../../protocols/broker.ts";
import { parseDeliverBatch } from "../../src/broker/deliver_batch.ts";
import { parsePublishBatch } from "../../src/broker/publish_batch.ts";
import { limits } from "../../src/limits.ts";
import { Decoder, encodeCopy, Raw } from "../../src/wire/msgpack.ts";

const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(parts.flatMap((p) => [...p]));
const u8 = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);

/** A string in the chosen msgpack width (fixstr, str8, str16, str32). */
function str(text: string, width: number): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const n = bytes.length;
  if (width === 0 && n < 32) return cat(u8(0xa0 | n), bytes);
  if (width <= 1 && n < 256) return cat(u8(0xd9, n), bytes);
  if (width <= 2) return cat(u8(0xda, n >> 8, n & 0xff), bytes);
  return cat(u8(0xdb, 0, 0, n >> 8, n & 0xff), bytes);
}
const arr = (items: Uint8Array[], wide = false): Uint8Array => cat(items.length < 16 && !wide ? u8(0x90 | items.length) : u8(0xdc, items.length >> 8, items.length & 0xff), ...items);
const map = (pairs: Array<[Uint8Array, Uint8Array]>): Uint8Array => cat(u8(0x80 | pairs.length), ...pairs.flatMap(([k, v]) => [k, v]));

const width = fc.integer({ min: 0, max: 3 });
const name = fc.oneof({ weight: 4, arbitrary: fc.constantFrom("q", "texts", "a.b.c", "") }, { weight: 4, arbitrary: fc.string({ maxLength: 20 }) }, { weight: 1, arbitrary: fc.string({ minLength: 250, maxLength: 260 }) });
const stringField = fc.tuple(name, width).map(([s, w]) => str(s, w));
const nil = fc.constant(u8(0xc0));
const payload = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true }), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 })).map((v) => encodeCopy(v));
const junk = fc.oneof(fc.integer().map((n) => encodeCopy(n)), fc.constant(u8(0xc3)), fc.constant(u8(0x90)), fc.constant(u8(0xc1)), fc.constant(u8(0xd4, 1, 1)));
const field = (good: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> => fc.oneof({ weight: 24, arbitrary: good }, { weight: 1, arbitrary: junk });

const publishEntry = fc
  .tuple(field(fc.oneof(stringField, nil)), field(stringField), field(payload), field(fc.oneof(stringField, nil)), field(fc.oneof(stringField, nil)), field(fc.oneof(nil, fc.constant(encodeCopy({ h: 1 })))), fc.integer({ min: 2, max: 7 }))
  .map(([exchange, key, body, replyTo, correlationId, headers, n]) => arr([exchange, key, body, replyTo, correlationId, headers].slice(0, n)));

const idValue = fc.oneof(fc.constant(u8(0x07)), fc.constant(encodeCopy(2 ** 40)), fc.constant(u8(0xcb, 0x40, 0x18, 0, 0, 0, 0, 0, 0)), nil, fc.constant(u8(0xff)), fc.constant(encodeCopy("1")));
const publishFrame = fc
  .tuple(fc.array(publishEntry, { minLength: 0, maxLength: 5 }), fc.option(idValue), fc.boolean(), fc.boolean(), fc.boolean(), width)
  .map(([entries, id, extraKey, reKey, wide, opWidth]) => {
    const pairs: Array<[Uint8Array, Uint8Array]> = [[str("op", opWidth), str("publish.batch", opWidth)], [str("messages", 0), arr(entries, wide)]];
    if (id !== null) pairs.push([str("id", 0), id]);
    if (extraKey) pairs.push([str("future", 0), encodeCopy([1, 2])]);
    if (reKey) pairs.push([str("re", 0), idValue === null ? u8(0x01) : u8(0x02)]);
    return { body: map(pairs.reverse()), entries };
  });

const payloadPlan = broker.payloads!;

function generic(body: Uint8Array, plan: typeof payloadPlan | undefined, schema: { check(v: unknown): unknown }, lenient: boolean): Record<string, unknown> | null {
  try {
    const value = new Decoder().decode(body, plan, lenient) as Record<string, unknown>;
    if (value === null || typeof value !== "object" || typeof value.op !== "string") return null;
    const d = new Decoder();
    d.decode(body, plan, lenient);
    if (d.unsupported !== null) return null;
    const id = value.id;
    if (id !== undefined && id !== null && !(typeof id === "number" && Number.isSafeInteger(id) && id >= 0)) return null;
    const re = value.re;
    if (re !== undefined && re !== null && !(typeof re === "number" && Number.isSafeInteger(re) && re >= 0)) return null;
    return schema.check(value) as Record<string, unknown>;
  } catch {
    return null;
  }
}

describe("publish.batch", () => {
  test("the fast path accepts what the generic path accepts, gives the same messages, and keeps each entry's bytes", () => {
    let accepted = 0;
    fc.assert(
      fc.property(publishFrame, ({ body, entries }) => {
        const slow = generic(body, payloadPlan, broker.ops["publish.batch"].request, false);
        const fast = parsePublishBatch(body);
        expect(fast !== undefined).toBe(slow !== null);
        if (fast === undefined || slow === null) return;
        accepted++;
        const slowMessages = slow.messages as unknown[][];
        expect(fast.messages.length).toBe(slowMessages.length);
        expect(fast.id).toBe(slow.id === null ? undefined : (slow.id as number | undefined));
        fast.messages.forEach((m, i) => {
          expect(m.exchange).toBe((slowMessages[i]![0] as string | null) ?? "");
          expect(m.key).toBe(slowMessages[i]![1] as string);
          // The stored range is exactly the entry's elements as they were sent.
          expect(Buffer.from(m.slab.bytes.subarray(m.start, m.end)).equals(Buffer.from(entries[i]!.subarray(entries[i]![0]! === 0xdc ? 3 : 1)))).toBe(true);
          expect((m.fields().body as Raw).bytes).toEqual((slowMessages[i]![2] as Raw).bytes);
        });
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(300); // the generator reaches the happy path often enough to mean something
  });
});

const deliverEntry = fc
  .tuple(field(fc.integer({ min: 1, max: 2 ** 40 }).map((n) => encodeCopy(n))), field(fc.boolean().map((b) => encodeCopy(b))), field(fc.oneof(stringField, nil)), field(stringField), field(payload), field(fc.oneof(stringField, nil)), field(fc.oneof(stringField, nil)), field(fc.oneof(nil, fc.constant(encodeCopy({ h: 1 })))), fc.integer({ min: 4, max: 9 }))
  .map(([d, r, exchange, key, body, replyTo, correlationId, headers, n]) => arr([d, r, exchange, key, body, replyTo, correlationId, headers].slice(0, n)));
const deliverFrame = fc
  .tuple(fc.array(deliverEntry, { minLength: 0, maxLength: 4 }), stringField, stringField, fc.boolean())
  .map(([entries, tag, queue, extra]) => {
    const pairs: Array<[Uint8Array, Uint8Array]> = [[str("op", 0), str("deliver.batch", 0)], [str("tag", 0), tag], [str("queue", 1), queue], [str("messages", 0), arr(entries)]];
    if (extra) pairs.push([str("later", 0), u8(0x01)]);
    return map(pairs);
  });

describe("deliver.batch", () => {
  test("the fast path accepts what the generic path accepts and gives the same deliveries", () => {
    let accepted = 0;
    fc.assert(
      fc.property(deliverFrame, (body) => {
        const slow = generic(body, undefined, brokerClient.ops["deliver.batch"].request, true);
        const fast = parseDeliverBatch(body, 1);
        expect(fast !== undefined).toBe(slow !== null);
        if (fast === undefined || slow === null) return;
        accepted++;
        const entries = slow.messages as unknown[][];
        expect(fast.deliveries.length).toBe(entries.length);
        fast.deliveries.forEach((d, i) => {
          const [delivery, redelivered, exchange, key, value, replyTo, correlationId, headers] = entries[i]!;
          expect(d).toEqual({
            tag: slow.tag,
            queue: slow.queue,
            connection: 1,
            delivery,
            redelivered,
            exchange: exchange ?? "",
            key,
            body: value,
            ...(replyTo != null ? { replyTo } : {}),
            ...(correlationId != null ? { correlationId } : {}),
            ...(headers != null ? { headers } : {}),
          } as never);
        });
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(300);
  });

  test("bounds hold on both paths: more than batchMessagesMax entries is refused", () => {
    const entries = Array.from({ length: limits.batchMessagesMax + 1 }, (_, i) => arr([encodeCopy(i + 1), u8(0xc2), u8(0xc0), str("k", 0), encodeCopy("b")]));
    const body = map([[str("op", 0), str("deliver.batch", 0)], [str("tag", 0), str("t", 0)], [str("queue", 0), str("q", 0)], [str("messages", 0), arr(entries, true)]]);
    expect(parseDeliverBatch(body, 1)).toBeUndefined();
    expect(generic(body, undefined, brokerClient.ops["deliver.batch"].request, true)).toBeNull();
  });
});
