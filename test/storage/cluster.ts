// A storage cluster of real processes for tests: N nodes on loopback, each with its own data dir,
// optionally every node-to-node link through its own FaultProxy (so a test can cut any direction),
// and helpers to read each node's status, find leaders, kill and restart nodes.

import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storage, type StorageStatus } from "../../protocols/storage.ts";
import { PeerError } from "../../src/errors.ts";
import { freePort } from "../../src/launcher/local_process.ts";
import { META_SHARD } from "../../src/storage/linearizable_node.ts";
import { StorageClient } from "../../src/storage/storage_client.ts";
import { FaultProxy } from "../harness/fault_proxy.ts";
import { NodeProcess } from "../harness/node_process.ts";
import { connectClient } from "../harness/test_client.ts";
import { waitFor } from "../harness/wait_for.ts";

export interface ClusterOptions {
  nodes: number;
  replicas?: number;
  shards?: number;
  consistency?: "linearizable" | "gossip";
  /** Put a FaultProxy on every node-to-node direction (i → j). */
  proxied?: boolean;
  extra?: string[];
  heartbeatMs?: number;
  /** Extra environment per node id (e.g. PEER_NODE_FAILPOINTS for one node). */
  env?: Record<string, Record<string, string>>;
}

export class StorageCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "peer-node-storage-"));
  readonly ids: string[];
  readonly ports: number[];
  readonly procs = new Map<string, NodeProcess>();
  /** proxies[i][j]: what node i uses to reach node j. */
  readonly proxies: FaultProxy[][] = [];

  constructor(readonly o: ClusterOptions) {
    this.ids = Array.from({ length: o.nodes }, (_, i) => `s${i + 1}`);
    this.ports = this.ids.map(() => freePort());
    for (let i = 0; i < o.nodes; i++) {
      this.proxies.push(this.ids.map((_, j) => (o.proxied && i !== j ? FaultProxy.start("127.0.0.1", this.ports[j]!) : null)) as FaultProxy[]);
    }
  }

  address(id: string): string {
    return `127.0.0.1:${this.ports[this.ids.indexOf(id)]}`;
  }

  args(id: string): string[] {
    const i = this.ids.indexOf(id);
    const peers = this.ids.filter((_, j) => j !== i).map((other) => {
      const j = this.ids.indexOf(other);
      const via = this.o.proxied ? this.proxies[i]![j]!.address : this.address(other);
      return `${other}@${via}`;
    });
    return [
      "--role", "storage", "--id", id, "--listen", this.address(id), "--peers", peers.join(","),
      "--data-dir", join(this.dir, id), "--replicas", String(this.o.replicas ?? 3), "--shards", String(this.o.shards ?? 4),
      "--consistency", this.o.consistency ?? "linearizable", "--heartbeat-ms", String(this.o.heartbeatMs ?? 200),
      ...(this.o.extra ?? []),
    ];
  }

  async start(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.startNode(id)));
  }

  async startNode(id: string): Promise<NodeProcess> {
    const env = this.o.env?.[id];
    const proc = await NodeProcess.start(this.args(id), env !== undefined ? { env } : {});
    this.procs.set(id, proc);
    return proc;
  }

  kill(id: string): void {
    this.procs.get(id)?.kill("SIGKILL");
  }

  async status(id: string): Promise<StorageStatus | null> {
    try {
      const c = await connectClient(this.address(id), { heartbeatMs: 0, lostWindowMs: 0, firstConnectWindowMs: 500 });
      try {
        return await c.call(storage, "storage.status", {}, 2_000);
      } finally {
        await c.close();
      }
    } catch {
      return null;
    }
  }

  /** Gossip mode: every slot a node holds, as "key@version" → "replica:value" (gossip.digest with an empty vector dumps a shard). */
  async slots(id: string): Promise<Map<string, string>> {
    const r = await connectClient(this.address(id), { heartbeatMs: 0, lostWindowMs: 0, firstConnectWindowMs: 500 });
    try {
      const slots = new Map<string, string>();
      for (let shard = 0; shard < (this.o.shards ?? 4); shard++) {
        const reply = await r.call(storage, "gossip.digest", { shard, known: {} }, 2_000);
        for (const [key, version, replica, , value] of reply.updates) slots.set(`${key}@${version}`, `${replica}:${JSON.stringify(value)}`);
      }
      return slots;
    } finally {
      await r.close();
    }
  }

  /** Gossip mode: until every one of `ids` holds the same slots (within timeoutMs, or waitFor throws); the time it took. */
  async converged(ids: string[] = this.ids, timeoutMs = 10_000): Promise<{ ms: number; slots: Map<string, string> }> {
    const since = performance.now();
    const same = (a: Map<string, string>, b: Map<string, string>): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
    const slots = await waitFor(async () => {
      const all = await Promise.all(ids.map((id) => this.slots(id)));
      return all.every((d) => same(d, all[0]!)) ? all[0]! : null;
    }, timeoutMs, 50);
    return { ms: performance.now() - since, slots };
  }

  /** Until every shard (and the meta group) has a leader that a majority of live nodes agree on. */
  async waitForLeaders(live: string[] = this.ids, timeoutMs = 20_000): Promise<Map<number, string>> {
    return waitFor(async () => {
      const statuses = (await Promise.all(live.map((id) => this.status(id)))).filter((s) => s !== null);
      const leaders = new Map<number, string>();
      for (const s of statuses) for (const g of s.groups) if (g.role === "leader") leaders.set(g.shard, s.node);
      const shards = this.o.shards ?? 4;
      for (let shard = 0; shard < shards; shard++) if (!leaders.has(shard)) return null;
      if (!leaders.has(META_SHARD)) return null;
      return leaders;
    }, timeoutMs, 100);
  }

  client(options: { timeoutMs?: number; retriesMax?: number } = {}): Promise<StorageClient> {
    return StorageClient.connect({ addresses: this.ids.map((id) => this.address(id)), ...options });
  }

  cleanup(): void {
    for (const row of this.proxies) for (const p of row) p?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The op fails with a PeerError of this name (and the error, to look at its hint or message). */
export async function expectError(p: Promise<unknown>, name: PeerError["name"]): Promise<PeerError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PeerError);
    expect((err as PeerError).name).toBe(name);
    return err as PeerError;
  }
  throw new Error(`expected ${name}, got a result`);
}
