// Torture of the linearizable store, as Jepsen runs etcd: each run starts 3 or 5 storage nodes
// with every node-to-node link through its own fault proxy, runs 4–8 concurrent clients doing
// random reads (some of old versions), writes, updateIfValueIs and cas on a few keys, and applies a
// seeded random schedule of faults: kill -9 and restart from the data dir, SIGSTOP/SIGCONT,
// partitions (a node isolated, a minority against a majority, a shard's leader isolated), healed
// after a while. The whole history (call and return times, results; definite failures and
// indefinite ones as such) is then checked by test/checker/linearizability.ts, which knows nothing
// of the store's code. A run also fails if nothing succeeded after the faults healed (no progress).
// `storage-gossip` runs the same schedule against gossip mode (3 nodes, full replication) and
// judges what that mode promises: after healing, every replica holds the same versions within
// CONVERGE_MS, and each client's reads never go back (read-your-writes, monotonic reads, by
// version). The linearizability checker's finding is reported beside it: it is expected to find
// the seed's anomalies (lost updates, stale reads), and prints the ops that show one.

import { PeerError } from "../../src/errors.ts";
import { META_SHARD } from "../../src/storage/linearizable_node.ts";
import { StorageClient } from "../../src/storage/storage_client.ts";
import { checkHistory, formatVerdict, type Operation } from "../checker/linearizability.ts";
import { killAll } from "../harness/node_process.ts";
import { waitFor } from "../harness/wait_for.ts";
import { StorageCluster } from "../storage/cluster.ts";
import type { RunContext, Suite, Verdict } from "./torture.ts";

/** Ops run this long with faults, then this long healed. */
const FAULTY_MS = 8_000;
const HEALED_MS = 4_000;
const KEYS = ["a", "b", "c", "d"];
/** Gossip mode: after healing and the last write, every replica must hold the same slots within this. */
const CONVERGE_MS = 10_000;

export const storageSuite: Suite = storageSuiteOf("linearizable");

/**
 * The same schedule against gossip mode, for teaching: the checker is expected to find its
 * anomalies (lost updates, stale reads), and prints the window of ops that shows one.
 */
export const storageGossipSuite: Suite = storageSuiteOf("gossip");

function storageSuiteOf(consistency: "linearizable" | "gossip"): Suite {
  return {
    name: consistency === "linearizable" ? "storage" : "storage-gossip",
    async run(ctx: RunContext): Promise<Verdict> {
      const nodes = consistency === "gossip" ? 3 : ctx.rand(4) === 0 ? 5 : 3;
      const cluster = new StorageCluster({ nodes, replicas: 3, shards: 1 + ctx.rand(3), consistency, proxied: true, heartbeatMs: 200, extra: ["--fsync", ctx.rand(2) === 0 ? "on" : "off"] });
      try {
        return await oneRun(ctx, cluster);
      } finally {
        await killAll();
        cluster.cleanup();
      }
    },
  };
}

async function oneRun(ctx: RunContext, c: StorageCluster): Promise<Verdict> {
  const { rand, log } = ctx;
  log(`${c.ids.length} nodes, ${c.o.shards} shard(s), ${c.o.extra?.join(" ")}`);
  await c.start();
  if (c.o.consistency === "gossip") await waitFor(async () => (await Promise.all(c.ids.map((id) => c.status(id)))).every((st) => st !== null), 30_000, 100);
  else await c.waitForLeaders(c.ids, 30_000);
  const started = performance.now();
  const now = (): number => performance.now();
  const history: Operation[] = [];
  const clients = 4 + rand(5);
  let stop = false;
  let okAfterHeal = 0;
  let healedAt = Number.POSITIVE_INFINITY;

  const clientLoop = async (id: number): Promise<void> => {
    const kv = await StorageClient.connect({ addresses: c.ids.map((n) => c.address(n)), timeoutMs: 1_500, retriesMax: 6 });
    // Each client's own random stream: the schedule's stream stays the schedule's.
    let state = (ctx.seed ^ Math.imul(id + 1, 0x9e3779b1)) >>> 0;
    const r = (n: number): number => {
      state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return state % n;
    };
    let counter = 0;
    try {
      while (!stop) {
        const key = KEYS[r(KEYS.length)]!;
        const value = `c${id}-${counter++}`;
        const kind = r(10);
        const op: Operation = { client: id, key, op: "read", input: {}, callMs: now(), returnMs: 0, outcome: { kind: "info" } };
        try {
          if (kind < 4) {
            const withVersion = r(4) === 0 && op.key.length > 0 ? 1 + r(12) : undefined;
            op.op = "read";
            if (withVersion !== undefined) op.input = { version: withVersion };
            op.outcome = { kind: "ok", result: await kv.read(key, withVersion) };
          } else if (kind < 7) {
            op.op = "write";
            op.input = { value };
            op.outcome = { kind: "ok", result: { version: await kv.write(key, value) } };
          } else if (kind < 9) {
            op.op = "cas";
            op.input = { newValue: value, version: r(8) };
            op.outcome = { kind: "ok", result: await kv.cas(key, value, op.input.version!) };
          } else {
            op.op = "updateIfValueIs";
            const expected = r(3) === 0 ? `c${r(clients)}-${r(Math.max(1, counter))}` : `c${id}-${Math.max(0, counter - 2)}`;
            op.input = { newValue: value, expected };
            op.outcome = { kind: "ok", result: await kv.updateIfValueIs(key, value, expected) };
          }
        } catch (err) {
          const e = err instanceof PeerError ? err : null;
          op.outcome = e !== null && e.definite ? { kind: "fail", error: e.name } : { kind: "info" };
        }
        op.returnMs = now();
        history.push(op);
        if (op.outcome.kind === "ok" && op.callMs > healedAt) okAfterHeal++;
      }
    } finally {
      await kv.close();
    }
  };
  const loops = Array.from({ length: clients }, (_, i) => clientLoop(i));

  // The fault schedule.
  const down = new Set<string>();
  const cut = (a: string, b: string, on: boolean): void => {
    const i = c.ids.indexOf(a);
    const j = c.ids.indexOf(b);
    for (const p of [c.proxies[i]![j]!, c.proxies[j]![i]!]) {
      if (on) p.partition({ lossy: true });
      else p.heal();
    }
  };
  const healAll = (): void => {
    for (const row of c.proxies) for (const p of row) p?.heal();
  };
  let faults = 0;
  while (now() - started < FAULTY_MS) {
    await Bun.sleep(300 + rand(1_200));
    const choice = rand(100);
    const at = `+${Math.round(now() - started)} ms`;
    const live = c.ids.filter((id) => !down.has(id));
    faults++;
    if (choice < 25 && live.length > Math.floor(c.ids.length / 2) + 1) {
      const victim = live[rand(live.length)]!;
      c.kill(victim);
      down.add(victim);
      log(`${at}: kill -9 ${victim}`);
    } else if (choice < 40 && down.size > 0) {
      const back = [...down][rand(down.size)]!;
      await c.startNode(back);
      down.delete(back);
      log(`${at}: restart ${back} from its data dir`);
    } else if (choice < 55 && live.length > 0) {
      const victim = live[rand(live.length)]!;
      const ms = rand(2) === 0 ? 100 + rand(300) : 800 + rand(1_500);
      log(`${at}: pause ${victim} ${ms} ms`);
      c.procs.get(victim)!.pause();
      await Bun.sleep(ms);
      c.procs.get(victim)!.resume();
    } else if (choice < 70) {
      const victim = c.ids[rand(c.ids.length)]!;
      log(`${at}: isolate ${victim}`);
      for (const other of c.ids) if (other !== victim) cut(victim, other, true);
    } else if (choice < 82) {
      const shuffled = [...c.ids].sort(() => rand(3) - 1);
      const minority = shuffled.slice(0, Math.floor(c.ids.length / 2));
      log(`${at}: partition ${minority.join(",")} | ${shuffled.slice(minority.length).join(",")}`);
      for (const a of minority) for (const b of shuffled.slice(minority.length)) cut(a, b, true);
    } else if (choice < 92) {
      const leader = await leaderOf(c, 0);
      if (leader !== null) {
        log(`${at}: isolate ${leader}, leader of shard 0`);
        for (const other of c.ids) if (other !== leader) cut(leader, other, true);
      }
    } else {
      log(`${at}: heal all partitions`);
      healAll();
    }
  }
  // Heal: partitions gone, every node running; the store must serve again.
  healAll();
  for (const id of down) await c.startNode(id);
  down.clear();
  healedAt = now();
  log(`+${Math.round(healedAt - started)} ms: healed, every node running`);
  await Bun.sleep(HEALED_MS);
  stop = true;
  await Promise.all(loops);
  const counts = { ok: 0, fail: 0, info: 0 };
  for (const op of history) counts[op.outcome.kind]++;
  log(`${history.length} ops (${counts.ok} ok, ${counts.fail} definite failures, ${counts.info} indefinite), ${faults} faults, ${clients} clients`);
  if (okAfterHeal === 0) return { kind: "hung", why: `no op succeeded in the ${HEALED_MS} ms after every fault healed` };
  const verdict = checkHistory(history, { versionsMax: 10, budgetMs: 20_000 });
  if (c.o.consistency === "gossip") return judgeGossip(c, history, verdict, log);
  if (verdict.ok === true) return { kind: "equal", notes: [`${verdict.ops} ops checked`] };
  if (verdict.ok === false) return { kind: "wrong", why: formatVerdict(verdict) };
  return { kind: "error", why: `the checker could not decide: ${verdict.why}` };
}

/** Gossip mode's own promises: convergence after healing, and sessions that never go back. */
async function judgeGossip(c: StorageCluster, history: Operation[], linearizable: ReturnType<typeof checkHistory>, log: (line: string) => void): Promise<Verdict> {
  const convergence = await c.converged(c.ids, CONVERGE_MS).catch(() => null);
  if (convergence === null) {
    const held = await Promise.all(c.ids.map(async (id) => `${id} holds ${(await c.slots(id).catch(() => null))?.size ?? "?"} slots`));
    return { kind: "wrong", why: `replicas still differ ${CONVERGE_MS} ms after healing and the last write: ${held.join(", ")}` };
  }
  log(`converged: ${convergence.slots.size} slots on every replica ${Math.round(convergence.ms)} ms after the last write`);
  // Each client ran its ops one after another, so its history in call order is its session.
  const seen = new Map<string, number>(); // "client/key" → highest version the client has seen
  for (const op of [...history].sort((a, b) => a.callMs - b.callMs)) {
    const at = `${op.client}/${op.key}`;
    const before = seen.get(at) ?? 0;
    if (op.outcome.kind === "fail" && op.op === "read" && op.input.version === undefined && op.outcome.error === "NOT_FOUND" && before > 0) {
      return { kind: "wrong", why: `session broken: client ${op.client} read ${op.key} as NOT_FOUND after seeing version ${before}` };
    }
    if (op.outcome.kind !== "ok") continue;
    const version = (op.outcome.result as { version?: number }).version ?? 0;
    if (op.op === "read" && op.input.version === undefined && version < before) {
      return { kind: "wrong", why: `session broken: client ${op.client} read ${op.key} at version ${version} after seeing version ${before}` };
    }
    if (version > before) seen.set(at, version);
  }
  const finding = linearizable.ok === true ? "the checker found no anomaly in this run" : linearizable.ok === false ? `the checker found an anomaly, as expected of this mode: ${formatVerdict(linearizable).split("\n")[0]}` : `the checker could not decide: ${linearizable.why}`;
  log(finding);
  return { kind: "equal", notes: [finding] };
}

async function leaderOf(c: StorageCluster, shard: number): Promise<string | null> {
  for (const id of c.ids) {
    const g = (await c.status(id))?.groups.find((x) => x.shard === shard && x.shard !== META_SHARD);
    if (g?.role === "leader") return id; // a node down or paused has no status: skipped
  }
  return null;
}
