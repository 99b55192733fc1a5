// Goal: no reply is ever cut short without saying so, and every reply fits a frame: stats pages,
// oversized ranges are a typed error, and a store write outside the documented range is refused.
// Method: a real broker; thousands of queues; a list past the element bound.

import { expect, test } from "bun:test";
import { limits } from "../../src/limits.ts";
import { brokerClient, useBroker } from "../harness/broker_fixture.ts";
import { NodeProcess } from "../harness/node_process.ts";

const broker = useBroker();

test("stats pages through 2,500 queues in name order; ./node stats prints them all", async () => {
  const c = await brokerClient(broker());
  const names = Array.from({ length: 2_500 }, (_, i) => `paged-${String(i).padStart(4, "0")}`);
  await Promise.all(names.map((name) => c.declareQueue(name)));
  const seen: string[] = [];
  let page = await c.stats();
  seen.push(...page.queues.map((q) => q.queue));
  expect(page.queues).toHaveLength(limits.statsQueuesPerPageMax);
  while (page.next !== undefined) {
    page = await c.stats(undefined, { after: page.next });
    seen.push(...page.queues.map((q) => q.queue));
  }
  const paged = seen.filter((name) => name.startsWith("paged-"));
  expect(paged).toEqual(names);
  expect(seen).toEqual([...seen].sort());
  const small = await c.stats(undefined, { limit: 7 });
  expect(small.queues).toHaveLength(7);
  expect(small.next).toBe(small.queues[6]!.queue);
  const cli = await NodeProcess.start(["stats", "--connect", broker().address], { waitListening: false });
  expect(await cli.exited).toBe(0);
  expect(cli.stdout.split("\n").filter((line) => line.startsWith("paged-"))).toHaveLength(2_500);
  expect(cli.stdout).toMatch(/\n\d+ queue\(s\)/);
}, 30_000);

test("a range past replyElementsMax is REPLY_TOO_LARGE (definite), never a silent cut; a smaller range works", async () => {
  const c = await brokerClient(broker());
  const half = Array.from({ length: limits.elementsPerRequestMax }, (_, i) => i);
  await c.rpush("long-list", ...half);
  await c.rpush("long-list", 1, 2);
  const err = await c.lrange("long-list", 0, -1).catch((e) => e);
  expect(err.name).toBe("REPLY_TOO_LARGE");
  expect(err.definite).toBe(true);
  expect(await c.lrange("long-list", -2, -1)).toEqual([1, 2]);
  expect(await c.llen("long-list")).toBe(limits.elementsPerRequestMax + 2);
});

test("set with ttlMs 0 is BAD_ARGUMENT (as Redis refuses PX 0); without ttlMs nothing expires", async () => {
  const c = await brokerClient(broker());
  expect((await c.set("ttl-zero", "v", 0).catch((e) => e)).name).toBe("BAD_ARGUMENT");
  await c.set("no-ttl", "v");
  expect(await c.get("no-ttl")).toBe("v");
});
