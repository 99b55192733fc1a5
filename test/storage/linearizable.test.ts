// Goal: the linearizable store as a user sees it — the seed's read/write/updateIfValueIs with
// versions, etcd's compare-and-set, redirects, typed errors for bad input — and as an operator
// sees it: a killed leader replaced quickly, a node restarted from its data dir catching up, a node
// joining and one removed with their shards moving and no write lost.
// Method: real storage processes on loopback (test/storage/cluster.ts), kill -9, the storage client.

import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { broker } from "../../protocols/broker.ts";
import { storage } from "../../protocols/storage.ts";
import { PeerError } from "../../src/errors.ts";
import { limits } from "../../src/limits.ts";
import { META_SHARD } from "../../src/storage/linearizable_node.ts";
import { shardOf } from "../../src/storage/placement.ts";
import { killAll, NodeProcess } from "../harness/node_process.ts";
import { connectClient } from "../harness/test_client.ts";
import { waitFor } from "../harness/wait_for.ts";
import { StorageCluster, expectError } from "./cluster.ts";

setDefaultTimeout(60_000);
const clusters: StorageCluster[] = [];
afterEach(async () => {
  await killAll();
  for (const c of clusters.splice(0)) c.cleanup();
});

async function cluster(nodes: number, options: Partial<ConstructorParameters<typeof StorageCluster>[0]> = {}): Promise<StorageCluster> {
  const c = new StorageCluster({ nodes, ...options });
  clusters.push(c);
  await c.start();
  await c.waitForLeaders();
  return c;
}

describe("the seed's operations, linearizable", () => {
  test("write, read, versions kept (10), updateIfValueIs, cas; errors are typed and definite", async () => {
    const c = await cluster(3);
    const kv = await c.client();
    expect(await kv.write("color", "red")).toBe(1);
    expect(await kv.write("color", { hue: 120, name: "green" })).toBe(2);
    expect(await kv.read("color")).toEqual({ value: { hue: 120, name: "green" }, version: 2 });
    expect(await kv.read("color", 1)).toEqual({ value: "red", version: 1 });
    // updateIfValueIs compares values (maps in any key order), cas compares versions.
    expect(await kv.updateIfValueIs("color", "blue", { name: "green", hue: 120 })).toEqual({ applied: true, version: 3 });
    expect(await kv.updateIfValueIs("color", "pink", "red")).toEqual({ applied: false, version: 3 });
    expect(await kv.cas("color", "cyan", 2)).toEqual({ applied: false, version: 3 });
    expect(await kv.cas("color", "cyan", 3)).toEqual({ applied: true, version: 4 });
    expect(await kv.cas("fresh", 1, 0)).toEqual({ applied: true, version: 1 }); // version 0: create only if absent
    for (let i = 0; i < 12; i++) await kv.write("many", i);
    expect((await kv.read("many")).version).toBe(12);
    expect(await kv.read("many", 3)).toEqual({ value: 2, version: 3 }); // the oldest of the last 10
    const gone = await expectError(kv.read("many", 2), "VERSION_GONE");
    expect(gone.definite).toBe(true);
    await expectError(kv.read("many", 13), "NOT_FOUND");
    await expectError(kv.read("never-written"), "NOT_FOUND");
    await kv.close();
  });

  test("an op sent to a follower is NOT_LEADER with the leader's address in hint; the client follows it", async () => {
    const c = await cluster(3);
    const leaders = await c.waitForLeaders();
    const key = "redirect-me";
    const leaderId = leaders.get(shardOf(key, 4))!;
    const follower = c.ids.find((id) => id !== leaderId)!;
    const raw = await connectClient(c.address(follower), { heartbeatMs: 0, lostWindowMs: 0 });
    try {
      await raw.call(storage, "kv.write", { key, value: 1 });
      throw new Error("a follower accepted a write");
    } catch (err) {
      expect((err as PeerError).name).toBe("NOT_LEADER");
      expect((err as PeerError).hint).toBe(c.address(leaderId));
      expect((err as PeerError).definite).toBe(true);
    }
    await raw.close();
  });

  test("bad input: wrong types, a value over the bound, a broker client pointed at a storage node", async () => {
    const c = await cluster(3);
    const raw = await connectClient(c.address("s1"), { heartbeatMs: 0, lostWindowMs: 0 });
    const bad = async (op: string, fields: object, name: PeerError["name"]): Promise<void> => {
      try {
        await raw.request(op, fields);
        throw new Error(`${op} accepted ${JSON.stringify(fields).slice(0, 80)}`);
      } catch (err) {
        expect((err as PeerError).name).toBe(name);
      }
    };
    await bad("kv.write", { key: 42, value: 1 }, "BAD_ARGUMENT");
    await bad("kv.write", { key: "k" }, "BAD_ARGUMENT");
    await bad("kv.read", { key: "k", version: -1 }, "BAD_ARGUMENT");
    await bad("kv.cas", { key: "k", newValue: 1, version: "3" }, "BAD_ARGUMENT");
    await bad("kv.read", { key: "" }, "BAD_ARGUMENT");
    const kv = await c.client();
    await expectError(kv.write("big", "x".repeat(limits.storageValueBytesMax + 1)), "LIMIT_EXCEEDED");
    await kv.close();
    await raw.close();
    const wrong = await NodeProcess.start(["stats", "--connect", c.address("s1")], { waitListening: false });
    expect(await wrong.exited).not.toBe(0);
    expect(wrong.stderr).toMatch(/is a storage, not a broker/);
    void broker;
  });

  test("a watch at the key's leader gets kv.changed for every new version applied, with its value, and nothing for an update that did not apply", async () => {
    const c = await cluster(3);
    const kv = await c.client();
    try {
      const seen: Array<[number, unknown]> = [];
      await kv.watch("w", (version, value) => seen.push([version, value]));
      await kv.write("w", "one");
      await kv.write("w", { n: 2 });
      await kv.updateIfValueIs("w", "three", { n: 2 });
      await kv.updateIfValueIs("w", "not applied", "nope");
      await waitFor(() => seen.length >= 3, 5_000);
      await Bun.sleep(100);
      expect(seen).toEqual([[1, "one"], [2, { n: 2 }], [3, "three"]]);
    } finally {
      await kv.close();
    }
  });

  test("./node kv on the command line: flags before or after the words, JSON results on stdout, a failure one line on stderr with exit 1, bad usage exit 2", async () => {
    const c = await cluster(3);
    const kv = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
      const p = await NodeProcess.start(["kv", ...args], { waitListening: false });
      const code = await p.exited;
      return { code, stdout: p.stdout.trim(), stderr: p.stderr.trim() };
    };
    expect(await kv("write", "greeting", "hello", "--connect", c.address("s1"))).toEqual({ code: 0, stdout: '{"version":1}', stderr: "" });
    expect(await kv("--connect", c.address("s2"), "write", "greeting", '{"n":2}')).toEqual({ code: 0, stdout: '{"version":2}', stderr: "" });
    expect(await kv("read", "greeting", "--version", "1", "--connect", c.address("s3"))).toEqual({ code: 0, stdout: '{"value":"hello","version":1}', stderr: "" });
    expect(await kv("update-if", "greeting", "3", "--expected", '{"n":2}', "--connect", c.address("s1"))).toEqual({ code: 0, stdout: '{"applied":true,"version":3}', stderr: "" });
    expect(await kv("cas", "greeting", "4", "--version", "2", "--connect", c.address("s1"))).toEqual({ code: 0, stdout: '{"applied":false,"version":3}', stderr: "" });
    const missing = await kv("read", "nokey", "--connect", c.address("s1"));
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toMatch(/^NOT_FOUND \(definite: it did not happen\): no key "nokey"$/);
    const usage = await kv("cas", "greeting", "4", "--connect", c.address("s1"));
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/kv cas needs --version N/);
  });
});

describe("faults", () => {
  test("the leader of a shard is SIGKILLed: writes to it resume within seconds (the time is printed)", async () => {
    const c = await cluster(3);
    const kv = await c.client({ timeoutMs: 2_000 });
    const key = "after-the-kill";
    await kv.write(key, 0);
    const leaders = await c.waitForLeaders();
    const victim = leaders.get(shardOf(key, 4))!;
    c.kill(victim);
    const killedAt = performance.now();
    let resumedMs = -1;
    for (let i = 1; resumedMs < 0 && performance.now() - killedAt < 15_000; i++) {
      try {
        await kv.write(key, i);
        resumedMs = performance.now() - killedAt;
      } catch {
        /* not yet */
      }
    }
    console.log(`leader SIGKILL: writes resumed after ${resumedMs.toFixed(0)} ms`);
    expect(resumedMs).toBeGreaterThan(0);
    expect(resumedMs).toBeLessThan(5_000); // typically ~0.7 s (an election, then the client's next try); this bounds it on a loaded machine
    await kv.close();
  });

  test("a node killed, written past, and restarted from its data dir catches up on every shard", async () => {
    const c = await cluster(3);
    const kv = await c.client();
    for (let i = 0; i < 50; i++) await kv.write(`before-${i}`, i);
    c.kill("s3");
    await c.waitForLeaders(["s1", "s2"]);
    for (let i = 0; i < 200; i++) await kv.write(`while-down-${i}`, i);
    await c.startNode("s3");
    // Caught up: on every group, s3 has applied what the leader has committed.
    await waitFor(async () => {
      const mine = await c.status("s3");
      if (mine === null) return false;
      for (const g of mine.groups) {
        const leaderId = g.leader;
        if (leaderId === undefined) return false;
        const leader = await c.status(leaderId);
        const theirs = leader?.groups.find((x) => x.shard === g.shard);
        if (theirs === undefined || g.applied < theirs.commit) return false;
      }
      return mine.groups.filter((g) => g.shard !== META_SHARD).reduce((n, g) => n + g.keys, 0) === 250;
    }, 20_000, 200);
    for (let i = 0; i < 200; i += 37) expect((await kv.read(`while-down-${i}`)).value).toBe(i);
    await kv.close();
  });

  test("a node joins (its shards move to it), then one is removed (its shards move off it): no write lost", async () => {
    const c = await cluster(3, { replicas: 2, shards: 8 });
    const kv = await c.client();
    const written = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      written.set(`k${i}`, i);
      await kv.write(`k${i}`, i);
    }
    // s4 joins through s1.
    const dir = `${c.dir}/s4`;
    const s4 = await NodeProcess.start(["--role", "storage", "--id", "s4", "--listen", "127.0.0.1:0", "--join", c.address("s1"), "--data-dir", dir, "--replicas", "2", "--shards", "8", "--heartbeat-ms", "200"]);
    await s4.waitForLog(/joined via=/, 20_000);
    const s4Address = s4.address;
    // Writes go on while shards move.
    const moving = (async () => {
      for (let i = 200; i < 400; i++) {
        written.set(`k${i}`, i);
        await kv.write(`k${i}`, i);
      }
    })();
    await waitFor(async () => {
      const client = await connectClient(s4Address, { heartbeatMs: 0, lostWindowMs: 0 });
      try {
        const st = await client.call(storage, "storage.status", {});
        return st.groups.filter((g) => g.shard !== META_SHARD && g.voters.includes("s4")).length >= 2;
      } finally {
        await client.close();
      }
    }, 30_000, 200);
    await moving;
    // s1 is removed: its shards move to the others.
    await kv.removeNode("s1");
    // Moved off: every group's leader (s1 included, while it still leads some) has s1 out of its voters.
    const statusOf = async (address: string) => {
      const client = await connectClient(address, { heartbeatMs: 0, lostWindowMs: 0 });
      try {
        return await client.call(storage, "storage.status", {});
      } finally {
        await client.close();
      }
    };
    await waitFor(async () => {
      const statuses = await Promise.all([...c.ids.map((id) => c.address(id)), s4Address].map(statusOf));
      const led = statuses.flatMap((s) => s.groups.filter((g) => g.role === "leader" && g.shard !== META_SHARD));
      return led.length === 8 && led.every((g) => !g.voters.includes("s1"));
    }, 30_000, 200);
    c.kill("s1");
    for (const [key, value] of written) expect((await kv.read(key)).value).toBe(value);
    await kv.close();
  });
});
