// The storage client: learns the placement from any node (kv.placement), sends each op to the
// leader of its key's shard, follows NOT_LEADER hints, retries what is safe with bounded backoff,
// and reports the rest as it is, definite or indefinite (Maelstrom's distinction):
// - NOT_LEADER, UNAVAILABLE, NOT_CONNECTED: nothing happened; retried (another node, a fresh
//   placement, a backoff), up to retriesMax;
// - TIMEOUT, CONNECTION_LOST on a write: it may have happened; thrown as is (indefinite): retrying
//   could apply it twice;
// - the same on a read: retried (a read changes nothing).
// Gossip mode: any replica of a shard serves it. The session ("shard/replica" → the Lamport stamps
// of the replica vectors this client has seen) travels with every op of that shard and grows with
// every reply, so this client's reads never go back in time: a replica behind it answers
// UNAVAILABLE, and the client moves to the shard's next replica.

import { storage, storageClient, type Placement } from "../../protocols/storage.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import type { Logger } from "../runtime/log.ts";
import { backoffMs, type Upstream } from "../runtime/upstream.ts";
import { UpstreamPool } from "../runtime/upstream_pool.ts";
import type { NodeInfo } from "./linearizable_node.ts";
import { shardOf } from "./placement.ts";

export interface StorageClientOptions {
  /** Any nodes of the cluster (the first that answers gives the placement). */
  addresses: readonly string[];
  token?: string;
  id?: string;
  /** Per request. */
  timeoutMs?: number;
  /** Retries of an op that certainly did not happen (NOT_LEADER, UNAVAILABLE, not connected). */
  retriesMax?: number;
  log?: Logger;
}

type Op = "kv.read" | "kv.write" | "kv.update-if" | "kv.cas";

export class StorageClient {
  private placement: Placement | null = null;
  /** Leader address per shard, as last learnt. */
  private readonly leaders = new Map<number, string>();
  private readonly links: UpstreamPool;
  /** Gossip mode: per shard, the session's entries ("shard/replica" → stamp) this client has seen. */
  private readonly sessions = new Map<number, Record<string, number>>();
  /** Gossip mode: per shard, which of its replicas to use (the next one after a failure); starts at random. */
  private readonly turns = new Map<number, number>();
  private readonly firstTurn = Math.floor(Math.random() * 1_000);
  private readonly watchers = new Map<string, (version: number, value: unknown) => void>();
  private readonly handlers = new HandlerTable();
  private closed = false;

  private constructor(private readonly o: StorageClientOptions) {
    this.handlers.serve(storageClient, {
      "kv.changed": (m) => this.watchers.get(m.key)?.(m.version, m.value),
    });
    this.links = new UpstreamPool({
      serves: "storage",
      what: "storage node",
      identity: { node: o.id ?? `kv-client-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, role: "client" },
      token: o.token,
      frameBytesMax: limits.storageFrameBytesMax,
      firstConnectWindowMs: limits.storageClientConnectWindowMs,
      lostWindowMs: 0,
      handlers: this.handlers,
      log: o.log,
    });
  }

  static async connect(options: StorageClientOptions): Promise<StorageClient> {
    const client = new StorageClient(options);
    await client.refreshPlacement();
    return client;
  }

  get currentPlacement(): Placement | null {
    return this.placement;
  }

  async read(key: string, version?: number): Promise<{ value: unknown; version: number }> {
    const r = (await this.op("kv.read", key, version === undefined ? { key } : { key, version })) as { value: unknown; version: number };
    return { value: r.value, version: r.version };
  }

  async write(key: string, value: unknown): Promise<number> {
    return ((await this.op("kv.write", key, { key, value })) as { version: number }).version;
  }

  async updateIfValueIs(key: string, newValue: unknown, expected: unknown): Promise<{ applied: boolean; version: number }> {
    const r = (await this.op("kv.update-if", key, { key, newValue, expected })) as { applied: boolean; version: number };
    return { applied: r.applied, version: r.version };
  }

  async cas(key: string, newValue: unknown, version: number): Promise<{ applied: boolean; version: number }> {
    const r = (await this.op("kv.cas", key, { key, newValue, version })) as { applied: boolean; version: number };
    return { applied: r.applied, version: r.version };
  }

  /** Follow a key at its shard's leader: onChange for every new version applied there. */
  async watch(key: string, onChange: (version: number, value: unknown) => void): Promise<void> {
    this.watchers.set(key, onChange);
    const shard = this.shardOf(key);
    const link = await this.links.get(this.target(shard));
    await link.call(storage, "kv.watch", { key });
  }

  private shardOf(key: string): number {
    return shardOf(key, this.placement?.shards ?? 1);
  }

  /** Where to send an op of `shard`: its known leader, else a replica, else any node. */
  private target(shard: number): string {
    const known = this.leaders.get(shard);
    if (known !== undefined) return known;
    const p = this.placement;
    if (p !== null) {
      const group = p.groups[shard];
      const turn = this.turns.get(shard) ?? this.firstTurn;
      const leader = p.consistency === "gossip" && group !== undefined && group.members.length > 0 ? group.members[turn % group.members.length] : (group?.leader ?? group?.members[0]);
      const address = p.nodes.find((n) => n.id === leader)?.address;
      if (address !== undefined) return address;
      if (p.nodes.length > 0) return p.nodes[0]!.address;
    }
    return this.o.addresses[0]!;
  }

  private async op(op: Op, key: string, args: Record<string, unknown>): Promise<unknown> {
    if (this.placement === null) await this.refreshPlacement();
    const shard = this.shardOf(key);
    const isRead = op === "kv.read";
    const retriesMax = this.o.retriesMax ?? limits.storageClientRetriesMax;
    let lastError: PeerError | null = null;
    for (let attempt = 0; attempt <= retriesMax; attempt++) {
      if (this.closed) throw new PeerError("NOT_CONNECTED", "the client is closed");
      const address = this.target(shard);
      let link: Upstream;
      try {
        link = await this.links.get(address);
      } catch (err) {
        lastError = err instanceof PeerError ? err : new PeerError("NOT_CONNECTED", String(err));
        this.forget(shard);
        await this.pause(attempt, true);
        continue;
      }
      try {
        const withSession = this.placement?.consistency === "gossip" ? { ...args, session: this.sessionOf(shard) } : args;
        const reply = (await link.request(op, withSession, this.o.timeoutMs ?? limits.storageClientTimeoutMs)) as Record<string, unknown>;
        this.leaders.set(shard, address);
        this.mergeSession(shard, reply.session);
        return reply;
      } catch (err) {
        const e = err instanceof PeerError ? err : new PeerError("INTERNAL", String(err));
        lastError = e;
        if (e.name === "NOT_LEADER") {
          if (e.hint !== undefined && e.hint !== address) this.leaders.set(shard, e.hint);
          else {
            this.forget(shard);
            await this.pause(attempt, true);
          }
          continue;
        }
        if (e.name === "UNAVAILABLE" || e.name === "NOT_CONNECTED" || e.name === "SHUTTING_DOWN") {
          this.forget(shard);
          await this.pause(attempt, true);
          continue;
        }
        if (!e.definite && isRead) {
          // A read changes nothing: try again elsewhere.
          this.forget(shard);
          this.links.drop(address);
          await this.pause(attempt, false);
          continue;
        }
        if (e.name === "CONNECTION_LOST" || e.name === "PEER_DEAD") this.links.drop(address);
        if (this.placement?.consistency === "gossip") this.forget(shard); // the next op tries another replica
        throw e;
      }
    }
    throw lastError ?? new PeerError("UNAVAILABLE", "no attempt made");
  }

  /** Drop the shard's current node; in gossip mode, move to its next replica. */
  private forget(shard: number): void {
    this.leaders.delete(shard);
    this.turns.set(shard, (this.turns.get(shard) ?? this.firstTurn) + 1);
  }

  /** The session's entries of one shard: all a replica of it needs. */
  private sessionOf(shard: number): Record<string, number> {
    return this.sessions.get(shard) ?? {};
  }

  /** A reply's session (the answering replica's entries for that shard) raises ours, entry by entry. */
  private mergeSession(shard: number, session: unknown): void {
    if (session === null || typeof session !== "object") return;
    let mine = this.sessions.get(shard);
    if (mine === undefined) this.sessions.set(shard, (mine = {}));
    for (const [entry, stamp] of Object.entries(session as Record<string, number>)) {
      if (typeof stamp === "number" && (mine[entry] ?? 0) < stamp) mine[entry] = stamp;
    }
  }

  /** Between attempts: a fresh placement now and then, and a backoff (none for the first redirect). */
  private async pause(attempt: number, refresh: boolean): Promise<void> {
    if (refresh && attempt % 3 === 2) await this.refreshPlacement().catch(() => {});
    if (attempt > 0) await Bun.sleep(Math.min(limits.storageClientBackoffMsMax, backoffMs(attempt)));
  }

  async refreshPlacement(): Promise<void> {
    let last: unknown = null;
    const candidates = [...new Set([...(this.placement?.nodes.map((n) => n.address) ?? []), ...this.o.addresses])];
    for (const address of candidates) {
      try {
        const link = await this.links.get(address);
        this.placement = await link.call(storage, "kv.placement", {}, this.o.timeoutMs ?? limits.storageClientTimeoutMs);
        for (const g of this.placement.groups) {
          const leader = this.placement.nodes.find((n) => n.id === g.leader)?.address;
          if (leader !== undefined) this.leaders.set(g.shard, leader);
        }
        return;
      } catch (err) {
        last = err;
        this.links.drop(address);
      }
    }
    throw last instanceof PeerError ? last : new PeerError("NOT_CONNECTED", `no storage node answered at ${candidates.join(", ")}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.links.close();
  }

  /** Take a node out of the cluster (through the meta group's leader). */
  async removeNode(id: string): Promise<void> {
    const addresses = this.placement?.nodes.map((n) => n.address) ?? [...this.o.addresses];
    let target = addresses[0]!;
    for (let attempt = 0; attempt <= (this.o.retriesMax ?? limits.storageClientRetriesMax); attempt++) {
      try {
        await (await this.links.get(target)).call(storage, "storage.remove", { node: id }, this.o.timeoutMs ?? limits.storageClientTimeoutMs);
        return;
      } catch (err) {
        const e = err instanceof PeerError ? err : null;
        if (e?.name === "NOT_LEADER" && e.hint !== undefined) target = e.hint;
        else if (e?.name === "UNAVAILABLE" || e?.name === "NOT_LEADER" || e?.name === "NOT_CONNECTED") {
          target = addresses[(attempt + 1) % addresses.length]!;
          await Bun.sleep(backoffMs(attempt + 1));
        } else throw err;
      }
    }
    throw new PeerError("UNAVAILABLE", `no meta leader found to remove ${id}`);
  }

  /** Ask the cluster reachable at `address` to add `self`, following NOT_LEADER to the meta leader. */
  static async join(address: string, self: NodeInfo, token?: string): Promise<void> {
    const client = new StorageClient({ addresses: [address], token });
    try {
      let target = address;
      const deadline = Date.now() + limits.storageJoinWindowMs;
      for (let attempt = 1; ; attempt++) {
        try {
          const link = await client.links.get(target);
          await link.call(storage, "storage.join", { node: self.id, address: self.address }, limits.storageClientTimeoutMs);
          return;
        } catch (err) {
          const e = err instanceof PeerError ? err : null;
          if (Date.now() > deadline || (e !== null && e.definite && e.name !== "NOT_LEADER" && e.name !== "UNAVAILABLE" && e.name !== "NOT_CONNECTED")) throw err;
          if (e?.name === "NOT_LEADER" && e.hint !== undefined) target = e.hint;
          else {
            target = address;
            await Bun.sleep(backoffMs(attempt));
          }
        }
      }
    } finally {
      await client.close();
    }
  }
}
