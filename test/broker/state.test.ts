// Goal: the shared-state ops behave like their Redis namesakes (values, TTL, incr, lists incl. a
// blocking pop with timeout, sets) and using a key as the wrong type is WRONG_TYPE. Method: a real
// broker process and real clients.

import { describe, expect, test } from "bun:test";
import { brokerClient, useBroker } from "../harness/broker_fixture.ts";

const broker = useBroker();

let n = 0;
const key = (p: string): string => `${p}-${++n}`;

describe("values", () => {
  test("get/set/del, binary and structured values round-trip", async () => {
    const c = await brokerClient(broker());
    const k = key("v");
    expect(await c.get(k)).toBeNull();
    await c.set(k, "hello");
    expect(await c.get(k)).toBe("hello");
    await c.set(k, { nested: [1, 2] });
    expect(await c.get(k)).toEqual({ nested: [1, 2] });
    await c.set(k, new Uint8Array([9, 8]));
    expect(new Uint8Array((await c.get(k)) as Uint8Array)).toEqual(new Uint8Array([9, 8]));
    expect(await c.del(k, "missing")).toBe(1);
    expect(await c.get(k)).toBeNull();
  });

  test("set with ttlMs expires", async () => {
    const c = await brokerClient(broker());
    const k = key("ttl");
    await c.set(k, 1, 100);
    expect(await c.get(k)).toBe(1);
    await Bun.sleep(150);
    expect(await c.get(k)).toBeNull();
  });

  test("incr counts from 0, by any step; a non-integer value is BAD_ARGUMENT", async () => {
    const c = await brokerClient(broker());
    const k = key("n");
    expect(await c.incr(k)).toBe(1);
    expect(await c.incr(k, 10)).toBe(11);
    expect(await c.incr(k, -20)).toBe(-9);
    const s = key("s");
    await c.set(s, "41");
    expect(await c.incr(s)).toBe(42);
    await c.set(s, "abc");
    expect((await c.incr(s).catch((e) => e)).name).toBe("BAD_ARGUMENT");
  });

  test("concurrent incr from 5 clients loses no update", async () => {
    const k = key("race");
    const clients = await Promise.all(Array.from({ length: 5 }, () => brokerClient(broker())));
    await Promise.all(clients.flatMap((c) => Array.from({ length: 200 }, () => c.incr(k))));
    expect(await clients[0]!.get(k)).toBe(1000);
  });
});

describe("lists", () => {
  test("rpush/lpush/lpop/rpop (with count)/lrange/llen", async () => {
    const c = await brokerClient(broker());
    const k = key("l");
    expect(await c.rpush(k, "b", "c")).toBe(2);
    expect(await c.lpush(k, "a")).toBe(3);
    expect(await c.lrange(k, 0, -1)).toEqual(["a", "b", "c"]);
    expect(await c.lrange(k, -2, -1)).toEqual(["b", "c"]);
    expect(await c.lrange(k, 5, 10)).toEqual([]);
    expect(await c.llen(k)).toBe(3);
    expect(await c.lpop(k)).toBe("a");
    expect(await c.rpop(k)).toBe("c");
    expect(await c.rpush(k, 1, 2, 3)).toBe(4);
    expect(await c.lpopCount(k, 2)).toEqual(["b", 1]);
    expect(await c.rpopCount(k, 5)).toEqual([3, 2]);
    expect(await c.lpop(k)).toBeNull();
    expect(await c.llen(k)).toBe(0);
  });

  test("blpop returns at once when an element is there, waits for a push, and times out with null", async () => {
    const c = await brokerClient(broker());
    const other = await brokerClient(broker());
    const k = key("bl");
    await c.rpush(k, "ready");
    expect(await c.blpop(k, 1000)).toEqual({ key: k, value: "ready" });

    const waiting = c.blpop([key("empty"), k], 5_000);
    await Bun.sleep(50);
    await other.rpush(k, "pushed");
    expect(await waiting).toEqual({ key: k, value: "pushed" });
    expect(await c.llen(k)).toBe(0);

    const started = Date.now();
    expect(await c.blpop(k, 150)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  test("two blocked clients are served in arrival order", async () => {
    const a = await brokerClient(broker());
    const b = await brokerClient(broker());
    const pusher = await brokerClient(broker());
    const k = key("fifo");
    const first = a.blpop(k, 5_000);
    await Bun.sleep(30);
    const second = b.blpop(k, 5_000);
    await Bun.sleep(30);
    await pusher.rpush(k, 1, 2);
    expect(await first).toEqual({ key: k, value: 1 });
    expect(await second).toEqual({ key: k, value: 2 });
  });

  test("a blocked client that disconnects does not swallow a later push", async () => {
    const gone = await brokerClient(broker(), { lostWindowMs: 0 });
    const c = await brokerClient(broker());
    const k = key("gone");
    void gone.blpop(k, 5_000).catch(() => {});
    await Bun.sleep(30);
    await gone.close();
    await Bun.sleep(30);
    await c.rpush(k, "kept");
    expect(await c.lrange(k, 0, -1)).toEqual(["kept"]);
  });
});

describe("sets", () => {
  test("sadd/srem/smembers/srandmember", async () => {
    const c = await brokerClient(broker());
    const k = key("set");
    expect(await c.sadd(k, "a", "b", "c", "a")).toBe(3);
    expect(await c.sadd(k, "c", "d")).toBe(1);
    expect((await c.smembers(k)).sort()).toEqual(["a", "b", "c", "d"]);
    expect(await c.srem(k, "a", "zz")).toBe(1);
    const one = await c.srandmember(k);
    expect(one).toHaveLength(1);
    expect(["b", "c", "d"]).toContain(one[0] as string);
    const two = await c.srandmember(k, 2);
    expect(new Set(two).size).toBe(2);
    expect((await c.srandmember(k, 10)).sort()).toEqual(["b", "c", "d"]);
    expect(await c.srandmember(key("none"))).toEqual([]);
  });
});

test("using a key as the wrong type is WRONG_TYPE, like Redis", async () => {
  const c = await brokerClient(broker());
  const k = key("typed");
  await c.rpush(k, 1);
  for (const call of [() => c.get(k), () => c.sadd(k, "x"), () => c.incr(k), () => c.smembers(k)]) {
    const err = (await (call() as Promise<unknown>).catch((e) => e)) as { name: string; code: number };
    expect(err.name).toBe("WRONG_TYPE");
    expect(err.code).toBe(41);
  }
  const s = key("str");
  await c.set(s, "v");
  expect((await c.rpush(s, 1).catch((e) => e)).name).toBe("WRONG_TYPE");
  expect((await c.blpop(s, 10).catch((e) => e)).name).toBe("WRONG_TYPE");
  expect(c.upstream.isReady).toBe(true);
});
