// Goal: pub/sub reaches every current subscriber and stops after unsubscribe; membership lists
// connected nodes with roles, announces joins and deaths (a SIGSTOPped node) within the heartbeat
// bound, and admits one live connection per node id and role; stats counts match what was sent.
// Method: real broker and client processes.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { MemberEvent } from "../../protocols/broker.ts";
import { MEMBERS_CHANNEL } from "../../protocols/broker.ts";
import { brokerClient, closeClients, startBroker } from "../harness/broker_fixture.ts";
import { NodeProcess, killAll } from "../harness/node_process.ts";
import { RawSocket } from "../harness/raw_socket.ts";
import { waitFor } from "../harness/wait_for.ts";

const HEARTBEAT_MS = 200;
let broker: NodeProcess;
beforeAll(async () => {
  broker = await startBroker(["--heartbeat-ms", String(HEARTBEAT_MS)]);
});
afterEach(closeClients);
afterAll(killAll);

describe("pub/sub", () => {
  test("a publish reaches all subscribers; after unsubscribe it reaches the rest; nothing is stored", async () => {
    const pub = await brokerClient(broker);
    const subs = await Promise.all(Array.from({ length: 5 }, () => brokerClient(broker)));
    const got: unknown[][] = subs.map(() => []);
    expect(await pub.publishChannel("news", "before anyone listens")).toBe(0);
    await Promise.all(subs.map((s, i) => s.subscribe("news", (body) => got[i]!.push(body))));
    expect(await pub.publishChannel("news", "one")).toBe(5);
    await waitFor(() => got.every((g) => g.length === 1));
    await subs[0]!.unsubscribe("news");
    expect(await pub.publishChannel("news", "two")).toBe(4);
    await waitFor(() => got.slice(1).every((g) => g.length === 2));
    await Bun.sleep(50);
    expect(got[0]).toEqual(["one"]);
    expect(got[1]).toEqual(["one", "two"]);
  });

  test("subscriptions go away with the connection", async () => {
    const pub = await brokerClient(broker);
    const sub = await brokerClient(broker, { lostWindowMs: 0 });
    await sub.subscribe("bye", () => {});
    expect(await pub.publishChannel("bye", 1)).toBe(1);
    await sub.close();
    await waitFor(async () => (await pub.publishChannel("bye", 2)) === 0);
  });
});

describe("membership", () => {
  test("members lists nodes with their roles, filterable by role", async () => {
    const a = await brokerClient(broker, { id: "w-1", role: "worker" });
    await brokerClient(broker, { id: "w-2", role: "worker" });
    await brokerClient(broker, { id: "s-1", role: "slave" });
    const workers = await a.members("worker");
    expect(workers.map((m) => m.node).sort()).toEqual(["w-1", "w-2"]);
    const all = await a.members();
    expect(all.map((m) => m.node)).toContain("s-1");
    expect(all.every((m) => m.lastSeenMs > 0 && m.address.length > 0)).toBe(true);
  });

  test(`join and death events: a SIGSTOPped node leaves with reason "dead" within the heartbeat bound`, async () => {
    const watcher = await brokerClient(broker);
    const events: MemberEvent[] = [];
    await watcher.subscribe(MEMBERS_CHANNEL, (body) => events.push(body as MemberEvent));
    const holder = await NodeProcess.startScript("test/fixtures/hold_client.ts", [broker.address, String(HEARTBEAT_MS)], "ready");
    const node = `hold-${holder.pid}`;
    await waitFor(() => events.some((e) => e.event === "join" && e.node === node), 10_000);
    await Bun.sleep(HEARTBEAT_MS);
    const stoppedAt = Date.now();
    holder.pause();
    const leave = await waitFor(() => events.find((e): e is Extract<MemberEvent, { event: "leave" }> => e.event === "leave" && e.node === node), 3_000);
    const detectionMs = Date.now() - stoppedAt;
    expect(leave.reason).toBe("dead");
    expect(leave.role).toBe("client");
    expect(detectionMs).toBeLessThanOrEqual(HEARTBEAT_MS * 3 + HEARTBEAT_MS / 2 + 400);
    expect((await watcher.members()).some((m) => m.node === node)).toBe(false);
  });

  test(`an orderly close leaves with reason "closed"`, async () => {
    const watcher = await brokerClient(broker);
    const events: MemberEvent[] = [];
    await watcher.subscribe(MEMBERS_CHANNEL, (body) => events.push(body as MemberEvent));
    const leaver = await brokerClient(broker, { id: "leaver", lostWindowMs: 0 });
    await leaver.close();
    const leave = await waitFor(() => events.find((e): e is Extract<MemberEvent, { event: "leave" }> => e.event === "leave" && e.node === "leaver"));
    expect(leave.reason).toBe("closed");
  });

  test("one live connection per node id and role: a second hello is NODE_ID_IN_USE and closed; the id is free again once the first leaves", async () => {
    const watcher = await brokerClient(broker);
    const events: MemberEvent[] = [];
    await watcher.subscribe(MEMBERS_CHANNEL, (body) => events.push(body as MemberEvent));
    const first = await brokerClient(broker, { id: "only-one", role: "slave", lostWindowMs: 0 });
    const second = await RawSocket.connect(broker.host, broker.port);
    expect(await second.hello({ node: "only-one", role: "slave" })).toMatchObject({ op: "error", re: 1, name: "NODE_ID_IN_USE", message: expect.stringContaining('"only-one"') });
    await second.waitClosed();
    // Another role may use the same id: a member is named by both.
    const other = await RawSocket.connect(broker.host, broker.port);
    expect(await other.hello({ node: "only-one", role: "leader" })).toMatchObject({ op: "ok" });
    other.close();
    // The refused one never joined, so nobody saw it leave: the first is still the only "only-one" slave.
    await Bun.sleep(100);
    expect(events.filter((e) => e.node === "only-one" && e.role === "slave").map((e) => e.event)).toEqual(["join"]);
    expect((await watcher.members("slave")).filter((m) => m.node === "only-one")).toHaveLength(1);
    await first.close();
    await waitFor(() => events.some((e) => e.event === "leave" && e.node === "only-one" && e.role === "slave"));
    const again = await RawSocket.connect(broker.host, broker.port);
    expect(await again.hello({ node: "only-one", role: "slave" })).toMatchObject({ op: "ok" });
    again.close();
  });
});

describe("stats", () => {
  test("per-queue counts match what was published, delivered, acked and redelivered", async () => {
    const c = await brokerClient(broker);
    const q = await c.declareQueue("stats-q");
    for (let i = 0; i < 50; i++) c.sendToQueue(q, i);
    let seen = 0;
    let nacked = false;
    await c.consume(q, (d) => {
      seen++;
      if (!nacked && d.body === 0) {
        nacked = true;
        c.nack(d, true);
      } else c.ack(d);
    }, { prefetch: 10 });
    await waitFor(() => seen === 51);
    const s = await waitFor(async () => {
      const row = (await c.stats(q)).queues[0]!;
      return row.acked === 50 ? row : null;
    });
    expect(s).toMatchObject({ queue: q, depth: 0, unacked: 0, consumers: 1, published: 50, delivered: 51, acked: 50, redelivered: 1 });
    // Rates count whole seconds only, so the 10 s rate shows the burst once its second is over.
    await waitFor(async () => (await c.stats(q)).queues[0]!.rates.published.perSec10s === 5, 2_500);
    const all = await c.stats();
    expect(all.connections).toBeGreaterThanOrEqual(1);
    expect(all.bytes).toBeGreaterThanOrEqual(0);
  });

  test("`./node stats --connect` prints a table with the queue", async () => {
    const c = await brokerClient(broker);
    const q = await c.declareQueue("table-q");
    for (let i = 0; i < 7; i++) await c.publishConfirmed("", q, i);
    const proc = await NodeProcess.start(["stats", "--connect", broker.address], { waitListening: false });
    expect(await proc.exited).toBe(0);
    await Bun.sleep(20);
    const line = proc.stdout.split("\n").find((l) => l.startsWith("table-q"));
    expect(line).toBeDefined();
    expect(line!.split(/\s+/).slice(0, 2)).toEqual(["table-q", "7"]);
  });
});
