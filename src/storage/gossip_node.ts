// A storage node in gossip mode (the seed's design; spec: protocols/storage.md, "Gossip mode").
// - A write is applied at the replica that receives it (a node that holds no replica of the key's
//   shard answers NOT_LEADER with a replica's address), stamped (version = newest + 1, this
//   replica, a Lamport stamp), logged, acknowledged, and spread by anti-entropy every --gossip-ms:
//   each replica pulls from every other replica of its shards (gossip.digest with its vector) and
//   pushes back what the peer lacks (gossip.push). Until then, it is on this node alone.
// - Sessions: every reply carries this replica's vector; the client sends back what it has seen.
//   A replica behind the session pulls from its peers for up to gossipCatchUpMs, then answers
//   UNAVAILABLE (definite): the client tries another replica. So a client's reads never go back.
// - updateIfValueIs and cas: two-phase commit across the shard's live replicas (gossip_tpc.ts).

import { join } from "node:path";
import { storage, type GossipUpdate, type Placement as PlacementReply } from "../../protocols/storage.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import type { Logger } from "../runtime/log.ts";
import { encode } from "../wire/msgpack.ts";
import { sameValue } from "./kv_state.ts";
import { PeerMesh } from "./peer_mesh.ts";
import { Watches } from "./watches.ts";
import { GossipLog, type GossipSnapshot } from "./gossip_log.ts";
import { GossipShard, type Slot } from "./gossip_state.ts";
import { TwoPhaseCommit } from "./gossip_tpc.ts";
import type { NodeInfo, StorageNodeOptions } from "./linearizable_node.ts";
import { Placement, shardOf } from "./placement.ts";

export interface GossipNodeOptions extends StorageNodeOptions {
  gossipMs: number;
}

type Session = Record<string, number> | undefined;

export class GossipNode {
  private readonly placement: Placement;
  private readonly held = new Map<number, GossipShard>();
  private readonly mesh: PeerMesh;
  private readonly watches = new Watches();
  private readonly tpc: TwoPhaseCommit;
  /** The Lamport clock: above every stamp this node issued or saw. */
  private clock = 0;
  private log!: GossipLog;
  private timer: ReturnType<typeof setInterval> | null = null;
  private gossiping = false;
  private closed = false;
  /** Requests may arrive before start() has loaded the state (the server listens first): they wait for it. */
  private readonly loaded: Promise<void>;
  private markLoaded!: () => void;

  constructor(private readonly o: GossipNodeOptions) {
    this.loaded = new Promise((resolve) => (this.markLoaded = resolve));
    this.mesh = new PeerMesh({ self: o.self.id, selfAddress: o.self.address, token: o.token, heartbeatMs: o.heartbeatMs, frameBytesMax: o.frameBytesMax, log: o.log });
    this.placement = new Placement(o.initialNodes.map((n) => n.id), o.replicas);
    for (let shard = 0; shard < o.shards; shard++) {
      if (this.placement.replicasOf(shard).includes(o.self.id)) this.held.set(shard, new GossipShard(shard, o.versionsMax));
    }
    this.tpc = new TwoPhaseCommit({
      self: o.self.id,
      peer: (id) => this.mesh.peer(id),
      replicasOf: (shard) => this.placement.replicasOf(shard),
      newest: (shard, key) => this.held.get(shard)?.newest(key),
      commit: (shard, key, value) => this.writeLocal(shard, key, value),
      apply: (shard, u) => this.absorb(shard, [u], {}),
    });
  }

  get nodes(): NodeInfo[] {
    return this.o.initialNodes;
  }

  async start(): Promise<void> {
    const { log, loaded } = await GossipLog.open(join(this.o.dataDir, "gossip"), this.o.fsync, () => this.snapshot());
    this.log = log;
    this.clock = loaded.clock;
    for (const [shard, key, version, replica, stamp, value] of loaded.updates) {
      this.held.get(shard)?.apply(key, { version, replica, stamp, value });
      this.clock = Math.max(this.clock, stamp);
    }
    for (const n of this.o.initialNodes) this.mesh.ensure(n.id, n.address); // skips this node itself
    this.markLoaded();
    this.timer = setInterval(() => void this.gossipRound(), this.o.gossipMs);
  }

  register(handlers: HandlerTable): void {
    handlers.serve(storage, {
      "kv.read": async (a) => {
        const { shard, state } = await this.serving(a.key, a.session);
        const r = state.read(a.key, a.version);
        if (!r.ok) throw new PeerError(r.error, r.message);
        return { value: r.value, version: r.version, session: this.sessionOf(shard) };
      },
      "kv.write": async (a) => {
        const { shard } = await this.serving(a.key, a.session);
        if (this.tpc.locked(a.key)) throw new PeerError("UNAVAILABLE", `key ${JSON.stringify(a.key)} is locked by a two-phase commit here; nothing was done`);
        const u = await this.writeLocal(shard, a.key, checked(a.value));
        return { version: u[1], session: this.sessionOf(shard) };
      },
      "kv.update-if": async (a) => {
        const { shard } = await this.serving(a.key, a.session);
        const r = await this.tpc.run(shard, a.key, checked(a.newValue), (newest) => newest !== undefined && sameValue(newest.value, a.expected));
        return { ...r, session: this.sessionOf(shard) };
      },
      "kv.cas": async (a) => {
        const { shard } = await this.serving(a.key, a.session);
        const r = await this.tpc.run(shard, a.key, checked(a.newValue), (newest) => (newest?.version ?? 0) === a.version);
        return { ...r, session: this.sessionOf(shard) };
      },
      "kv.placement": () => this.placementReply(),
      "kv.watch": async (a, { connection }) => {
        await this.serving(a.key, undefined);
        this.watches.add(a.key, connection);
        return {};
      },
      "kv.unwatch": (a, { connection }) => {
        this.watches.remove(a.key, connection);
        return {};
      },
      "storage.status": () => ({
        node: this.o.self.id,
        consistency: "gossip" as const,
        groups: [...this.held].sort(([a], [b]) => a - b).map(([shard, state]) => ({
          shard,
          role: "gossip",
          term: 0,
          commit: this.clock,
          applied: this.clock,
          lastIndex: this.clock,
          voters: this.placement.replicasOf(shard),
          learners: [],
          keys: state.size,
        })),
      }),
      "gossip.digest": async (a) => {
        await this.loaded;
        const state = this.held.get(a.shard);
        if (state === undefined) return { updates: [], known: {} };
        return state.missing(a.known, this.vectorOf(a.shard), limits.gossipUpdatesPerFrameMax, limits.gossipPushBytesMax, (v) => encode(v).length);
      },
      "gossip.push": (a) => void this.loaded.then(() => this.absorb(a.shard, a.updates, a.known)),
      "tpc.prepare": async (a) => {
        await this.loaded;
        return this.tpc.prepare(a);
      },
      "tpc.decide": async (a) => {
        await this.loaded;
        return this.tpc.decide(a);
      },
      raft: () => {
        throw new PeerError("UNKNOWN_OP", "this node runs in gossip mode");
      },
      "storage.join": () => {
        throw new PeerError("UNKNOWN_OP", "gossip mode has a fixed membership (--peers)");
      },
      "storage.remove": () => {
        throw new PeerError("UNKNOWN_OP", "gossip mode has a fixed membership (--peers)");
      },
    });
  }

  /** The key's shard here, once this replica has caught up with the session; NOT_LEADER (with a replica's address) on a node that holds none. */
  private async serving(key: string, session: Session): Promise<{ shard: number; state: GossipShard }> {
    await this.loaded;
    const shard = shardOf(key, this.o.shards);
    const state = this.held.get(shard);
    if (state === undefined) {
      const replicas = this.placement.replicasOf(shard);
      const hint = this.o.initialNodes.find((n) => n.id === replicas[this.o.random(replicas.length)])?.address;
      throw new PeerError("NOT_LEADER", `this node holds no replica of shard ${shard}`, hint !== undefined ? { hint } : undefined);
    }
    if (this.behind(shard, session)) {
      await this.pullAll(shard, limits.gossipCatchUpMs, true);
      if (this.behind(shard, session)) throw new PeerError("UNAVAILABLE", `this replica of shard ${shard} has not yet received what the session has seen; nothing was done: try another replica`);
    }
    return { shard, state };
  }

  /** Whether the session has seen an update of `shard` that this replica may not hold. */
  private behind(shard: number, session: Session): boolean {
    if (session === undefined) return false;
    const vector = this.vectorOf(shard);
    const prefix = `${shard}/`;
    for (const entry in session) {
      if (!entry.startsWith(prefix)) continue;
      if ((vector[entry.slice(prefix.length)] ?? 0) < session[entry]!) return true;
    }
    return false;
  }

  /** This replica's vector for `shard`: ours is the clock (we hold every update we wrote). */
  private vectorOf(shard: number): Record<string, number> {
    const vector: Record<string, number> = Object.fromEntries(this.held.get(shard)?.known ?? []);
    vector[this.o.self.id] = this.clock;
    return vector;
  }

  private sessionOf(shard: number): Record<string, number> {
    const vector = this.vectorOf(shard);
    return Object.fromEntries(Object.entries(vector).map(([id, stamp]) => [`${shard}/${id}`, stamp]));
  }

  /** A new update written here: version = newest + 1, our id, the next stamp; logged before it is acknowledged. */
  private async writeLocal(shard: number, key: string, value: unknown): Promise<GossipUpdate> {
    const state = this.held.get(shard)!;
    const u: GossipUpdate = [key, (state.newest(key)?.version ?? 0) + 1, this.o.self.id, ++this.clock, value];
    this.store(shard, state, u);
    await this.log.sync();
    return u;
  }

  /** Updates from a peer (gossip or a 2PC decision); then its vector, once they are applied. */
  private async absorb(shard: number, updates: GossipUpdate[], known: Record<string, number>): Promise<void> {
    const state = this.held.get(shard);
    if (state === undefined) return;
    for (const u of updates) {
      this.clock = Math.max(this.clock, u[3]);
      this.store(shard, state, u);
    }
    for (const [id, stamp] of Object.entries(known)) {
      this.clock = Math.max(this.clock, stamp); // Lamport: past every stamp seen
      if (id !== this.o.self.id && (state.known.get(id) ?? 0) < stamp) state.known.set(id, stamp);
    }
    await this.log.sync();
  }

  private store(shard: number, state: GossipShard, u: GossipUpdate): void {
    const [key, version, replica, stamp, value] = u;
    const slot: Slot = { version, replica, stamp, value };
    if (!state.apply(key, slot)) return;
    this.log.add(shard, u);
    if (state.newest(key) === slot) this.watches.notify(key, version, value);
  }

  /** One anti-entropy round: pull from (and push to) every other replica of every shard held. */
  private async gossipRound(): Promise<void> {
    if (this.gossiping || this.closed) return;
    this.gossiping = true;
    try {
      await Promise.allSettled([...this.held.keys()].map((shard) => this.pullAll(shard, limits.gossipRoundTimeoutMs)));
    } finally {
      this.gossiping = false;
    }
  }

  /** waitForLink: also wait (within timeoutMs) for a link not up yet (a catch-up; a periodic round skips it, so a dead peer does not slow the rounds). */
  private pullAll(shard: number, timeoutMs: number, waitForLink = false): Promise<unknown> {
    const others = this.placement.replicasOf(shard).filter((id) => id !== this.o.self.id);
    return Promise.allSettled(others.map((id) => this.exchange(shard, id, timeoutMs, waitForLink)));
  }

  /** Pull what `id` has that we lack, then push what it lacks (its vector came with the reply). */
  private async exchange(shard: number, id: string, timeoutMs: number, waitForLink: boolean): Promise<void> {
    const peer = this.mesh.peer(id);
    if (peer === undefined) return;
    if (!peer.isReady) {
      if (!waitForLink) return;
      await peer.ready(timeoutMs);
    }
    const reply = await peer.call(storage, "gossip.digest", { shard, known: this.vectorOf(shard) }, timeoutMs);
    await this.absorb(shard, reply.updates, reply.known);
    const state = this.held.get(shard)!;
    const out = state.missing(reply.known, this.vectorOf(shard), limits.gossipUpdatesPerFrameMax, limits.gossipPushBytesMax, (v) => encode(v).length);
    if (out.updates.length > 0) peer.send(storage, "gossip.push", { shard, ...out });
  }

  private snapshot(): GossipSnapshot {
    const updates: GossipSnapshot["updates"] = [];
    for (const [shard, state] of this.held) for (const u of state.all()) updates.push([shard, ...u]);
    return { clock: this.clock, updates };
  }


  private placementReply(): PlacementReply {
    return {
      consistency: "gossip",
      shards: this.o.shards,
      replicas: this.o.replicas,
      versionsMax: this.o.versionsMax,
      nodes: this.o.initialNodes.map((n) => ({ id: n.id, address: n.address })),
      groups: Array.from({ length: this.o.shards }, (_, shard) => ({ shard, members: this.placement.replicasOf(shard) })),
    };
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.mesh.close();
    await this.log?.close();
  }
}

/** A value must fit the store's bound once encoded. */
function checked(value: unknown): unknown {
  const bytes = encode(value).length;
  if (bytes > limits.storageValueBytesMax) throw new PeerError("LIMIT_EXCEEDED", `a value of ${bytes} bytes; the store keeps values up to ${limits.storageValueBytesMax}`);
  return value;
}
