// A storage node in linearizable mode. Every shard is one Raft group on its R replicas; the
// cluster's node list is itself replicated by a meta group (on every node), so every node computes
// the same placement. This node:
// - serves kv.* for the shards it leads (reads through ReadIndex, writes through the log), and
//   answers NOT_LEADER with the leader's address, or UNAVAILABLE, otherwise;
// - creates a group when it first hears from a leader of a shard it is joining;
// - as the leader of a group, moves the group's membership toward the placement one step at a
//   time (add as learner, promote once caught up, remove what should go; a leader that should go
//   hands leadership over first), so a joining or removed node's shards move without a write lost:
//   each step is a Raft configuration change, and Raft keeps every committed entry across them.

import { join } from "node:path";
import { storage, type Placement as PlacementReply } from "../../protocols/storage.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { RaftEntry, RaftMessage } from "../raft/raft_node.ts";
import type { HandlerTable } from "../runtime/handlers.ts";
import type { Logger } from "../runtime/log.ts";
import { encode } from "../wire/msgpack.ts";
import { KvState, type KvCommand } from "./kv_state.ts";
import { PeerMesh } from "./peer_mesh.ts";
import { Placement, shardOf } from "./placement.ts";
import { ShardGroup, type StateMachine } from "./shard_group.ts";
import { Watches } from "./watches.ts";

/** The meta group's id on the wire (shard ids are 0 … shards-1). */
export const META_SHARD = limits.storageShardsMax;

export interface NodeInfo {
  id: string;
  address: string;
}

/** What every storage node is started with, whatever its mode (storage_role.ts fills it in). */
export interface StorageNodeOptions {
  self: NodeInfo;
  /** The cluster when it is first formed (this node included); in linearizable mode ignored once the meta group has a log. */
  initialNodes: NodeInfo[];
  shards: number;
  replicas: number;
  versionsMax: number;
  dataDir: string;
  fsync: boolean;
  token?: string;
  heartbeatMs?: number;
  frameBytesMax: number;
  log: Logger;
  random: (n: number) => number;
}

export interface LinearizableNodeOptions extends StorageNodeOptions {
  /** True for a node joining a running cluster: it forms nothing, it waits to be added. */
  joining: boolean;
}

type MetaCommand = { op: "init"; nodes: NodeInfo[] } | { op: "join"; id: string; address: string } | { op: "remove"; id: string };

/** The meta group's state machine: the cluster's nodes, in join order. */
class MetaState implements StateMachine {
  nodes: NodeInfo[] = [];
  apply(data: unknown): unknown {
    const c = data as MetaCommand;
    if (c.op === "init") {
      if (this.nodes.length === 0) this.nodes = c.nodes.map((n) => ({ ...n }));
    } else if (c.op === "join") {
      const existing = this.nodes.find((n) => n.id === c.id);
      if (existing) existing.address = c.address;
      else this.nodes.push({ id: c.id, address: c.address });
    } else this.nodes = this.nodes.filter((n) => n.id !== c.id);
    return this.nodes.length;
  }
  snapshot(): unknown {
    return this.nodes.map((n) => ({ ...n }));
  }
  restore(data: unknown): void {
    this.nodes = (data as NodeInfo[]).map((n) => ({ ...n }));
  }
}

/** A shard's state machine: the versioned KV state; it tells watchers of every change. */
class ShardMachine implements StateMachine {
  constructor(
    readonly kv: KvState,
    private readonly changed: (key: string, version: number, value: unknown) => void,
  ) {}
  apply(data: unknown): unknown {
    const command = data as KvCommand;
    const result = this.kv.apply(command);
    if ("version" in result && (!("applied" in result) || result.applied)) {
      this.changed(command.key, result.version, command.op === "write" ? command.value : command.newValue);
    }
    return result;
  }
  snapshot(): unknown {
    return this.kv.snapshot();
  }
  restore(data: unknown): void {
    this.kv.restore(data as ReturnType<KvState["snapshot"]>);
  }
}

export class LinearizableNode {
  private meta!: ShardGroup;
  private readonly metaState = new MetaState();
  private readonly groups = new Map<number, ShardGroup>();
  private readonly machines = new Map<number, ShardMachine>();
  private readonly opening = new Map<number, Promise<ShardGroup>>();
  /** Addresses known before the meta state has them (a joiner's, from its join request). */
  private readonly addresses = new Map<string, string>();
  private readonly mesh: PeerMesh;
  private placement: Placement;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private reconciler: ReturnType<typeof setInterval> | null = null;
  private readonly watches = new Watches();
  private closed = false;
  private initProposed = false;

  constructor(private readonly o: LinearizableNodeOptions) {
    this.mesh = new PeerMesh({ self: o.self.id, selfAddress: o.self.address, token: o.token, heartbeatMs: o.heartbeatMs, frameBytesMax: o.frameBytesMax, log: o.log });
    for (const n of o.initialNodes) this.addresses.set(n.id, n.address);
    this.placement = new Placement([], o.replicas);
  }

  async start(): Promise<void> {
    const o = this.o;
    this.meta = await ShardGroup.open({
      shard: META_SHARD,
      self: o.self.id,
      dir: join(o.dataDir, "meta"),
      fsync: o.fsync,
      membership: o.joining ? { voters: [], learners: [] } : { voters: o.initialNodes.map((n) => n.id), learners: [] },
      machine: this.metaState,
      send: (messages) => this.send(META_SHARD, messages),
      addressOf: (id) => this.addressOf(id),
      random: o.random,
      onApplied: () => this.onMetaApplied(),
    });
    // Replay what the meta log says is committed, so the node list is the cluster's before anything else.
    for (let i = 0; i < 100 && this.meta.raft.appliedIndex < this.meta.raft.commit; i++) await Bun.sleep(1);
    this.onMetaApplied();
    for (const n of o.initialNodes) this.mesh.ensure(n.id, n.address);
    // The shards this node holds: those it has on disk, and those the placement gives it.
    for (let shard = 0; shard < o.shards; shard++) {
      if (this.placement.replicasOf(shard).includes(o.self.id) || (await Bun.file(join(o.dataDir, `shard-${shard}`, "wal")).exists())) {
        await this.group(shard, this.placement.replicasOf(shard));
      }
    }
    this.ticker = setInterval(() => {
      this.meta.tick();
      for (const [shard, g] of this.groups) {
        // A replica the placement moved away, not reached by a leader for a while, falls silent:
        // it would only start elections it cannot win. A message from a leader wakes it. Its data
        // stays on disk (deleting a copy that may still be a voter could break safety).
        if (g.quietMs > limits.storageDormantAfterMs && !this.placement.replicasOf(shard).includes(this.o.self.id)) continue;
        g.tick();
      }
    }, limits.raftTickMs);
    this.reconciler = setInterval(() => this.reconcile(), limits.storageReconcileEveryMs);
  }

  /** Register the kv.* and peer ops on the node's handler table. */
  register(handlers: HandlerTable): void {
    handlers.serve(storage, {
      "kv.read": async (a) => {
        const { group, machine } = await this.leading(a.key);
        await group.readBarrier();
        const r = machine.kv.read(a.key, a.version);
        if (!r.ok) throw new PeerError(r.error, r.message);
        return { value: r.value, version: r.version };
      },
      "kv.write": (a) => this.propose({ op: "write", key: a.key, value: checked(a.value) }) as Promise<{ version: number }>,
      "kv.update-if": (a) => this.propose({ op: "updateIf", key: a.key, newValue: checked(a.newValue), expected: a.expected }) as Promise<{ applied: boolean; version: number }>,
      "kv.cas": (a) => this.propose({ op: "cas", key: a.key, newValue: checked(a.newValue), version: a.version }) as Promise<{ applied: boolean; version: number }>,
      "kv.placement": () => this.placementReply(),
      "storage.status": () => ({
        node: this.o.self.id,
        consistency: "linearizable" as const,
        groups: [[META_SHARD, this.meta] as const, ...[...this.groups].sort(([a], [b]) => a - b)].map(([shard, g]) => ({
          shard,
          role: g.raft.role,
          term: g.raft.term,
          ...(g.raft.leader !== null ? { leader: g.raft.leader } : {}),
          commit: g.raft.commit,
          applied: g.raft.appliedIndex,
          lastIndex: g.raft.lastIndex(),
          voters: [...g.raft.membership.voters],
          learners: [...g.raft.membership.learners],
          keys: shard === META_SHARD ? this.metaState.nodes.length : (this.machines.get(shard)?.kv.size ?? 0),
        })),
      }),
      "kv.watch": async (a, { connection }) => {
        await this.leading(a.key);
        this.watches.add(a.key, connection);
        return {};
      },
      "kv.unwatch": (a, { connection }) => {
        this.watches.remove(a.key, connection);
        return {};
      },
      raft: (a) => {
        if (this.addressOf(a.node) === undefined) this.addresses.set(a.node, a.address);
        for (const { shard, message } of a.messages) void this.receive(shard, message);
      },
      "storage.join": async (a) => {
        if (!this.meta.isLeader) throw this.meta.notLeader();
        this.addresses.set(a.node, a.address);
        this.mesh.ensure(a.node, a.address);
        await this.meta.propose({ op: "join", id: a.node, address: a.address } satisfies MetaCommand);
        return {};
      },
      "storage.remove": async (a) => {
        if (!this.meta.isLeader) throw this.meta.notLeader();
        if (!this.clusterNodes().some((n) => n.id === a.node)) throw new PeerError("NOT_FOUND", `no node ${a.node} in the cluster`);
        if (this.clusterNodes().length <= 1) throw new PeerError("PRECONDITION_FAILED", "the last node cannot be removed");
        await this.meta.propose({ op: "remove", id: a.node } satisfies MetaCommand);
        return {};
      },
      "gossip.push": () => {
        throw new PeerError("UNKNOWN_OP", "this node runs in linearizable mode");
      },
      "gossip.digest": () => {
        throw new PeerError("UNKNOWN_OP", "this node runs in linearizable mode");
      },
      "tpc.prepare": () => {
        throw new PeerError("UNKNOWN_OP", "this node runs in linearizable mode");
      },
      "tpc.decide": () => {
        throw new PeerError("UNKNOWN_OP", "this node runs in linearizable mode");
      },
    });
  }

  /** The group of the key's shard, if this node leads it; NOT_LEADER / UNAVAILABLE otherwise. */
  private async leading(key: string): Promise<{ group: ShardGroup; machine: ShardMachine }> {
    const shard = shardOf(key, this.o.shards);
    const group = this.groups.get(shard);
    if (group === undefined) {
      // Not a replica: point at one that is (the client asks it, and is redirected to the leader).
      const replica = this.placement.replicasOf(shard).map((id) => this.addressOf(id)).find((a) => a !== undefined);
      throw replica === undefined ? new PeerError("UNAVAILABLE", `no replica of shard ${shard} is known`) : new PeerError("NOT_LEADER", `this node holds no replica of shard ${shard}`, { hint: replica });
    }
    if (!group.isLeader) throw group.notLeader();
    return { group, machine: this.machines.get(shard)! };
  }

  private async propose(command: KvCommand): Promise<unknown> {
    const { group } = await this.leading(command.key);
    return group.propose(command);
  }

  private placementReply(): PlacementReply {
    return {
      consistency: "linearizable",
      shards: this.o.shards,
      replicas: this.o.replicas,
      versionsMax: this.o.versionsMax,
      nodes: this.clusterNodes().map((n) => ({ id: n.id, address: n.address })),
      groups: Array.from({ length: this.o.shards }, (_, shard) => {
        const g = this.groups.get(shard);
        const leader = g?.raft.leader ?? undefined;
        return { shard, members: g ? [...g.raft.membership.voters] : this.placement.replicasOf(shard), ...(leader ? { leader } : {}) };
      }),
    };
  }

  addressOf(id: string): string | undefined {
    if (id === this.o.self.id) return this.o.self.address;
    return this.clusterNodes().find((n) => n.id === id)?.address ?? this.addresses.get(id);
  }

  private send(shard: number, messages: RaftMessage[]): void {
    for (const m of messages) {
      const address = this.addressOf(m.to);
      if (address !== undefined) this.mesh.ensure(m.to, address);
    }
    this.mesh.send(shard, messages);
  }

  /** A Raft message for one of our groups; a leader's append or snapshot creates a group we are joining. */
  private async receive(shard: number, message: RaftMessage): Promise<void> {
    if (shard === META_SHARD) return this.meta.step(message);
    if (shard >= this.o.shards) return;
    let group = this.groups.get(shard);
    if (group === undefined) {
      if (message.type !== "append" && message.type !== "snapshot") return;
      group = await this.group(shard, null);
    }
    group.step(message);
  }

  /** Open (or create) the group of `shard`; `voters` null: a group we are being added to (its leader tells us the membership). */
  private group(shard: number, voters: string[] | null): Promise<ShardGroup> {
    const open = this.groups.get(shard);
    if (open !== undefined) return Promise.resolve(open);
    let opening = this.opening.get(shard);
    if (opening === undefined) {
      const machine = new ShardMachine(new KvState(this.o.versionsMax), (key, version, value) => this.watches.notify(key, version, value));
      opening = ShardGroup.open({
        shard,
        self: this.o.self.id,
        dir: join(this.o.dataDir, `shard-${shard}`),
        fsync: this.o.fsync,
        membership: { voters: voters ?? [], learners: [] },
        machine,
        send: (messages) => this.send(shard, messages),
        addressOf: (id) => this.addressOf(id),
        random: this.o.random,
      }).then((g) => {
        this.groups.set(shard, g);
        this.machines.set(shard, machine);
        this.opening.delete(shard);
        return g;
      });
      this.opening.set(shard, opening);
    }
    return opening;
  }

  /** The cluster's nodes: the meta state's, or, until a new cluster has committed its first entry, the initial ones. */
  private clusterNodes(): NodeInfo[] {
    return this.metaState.nodes.length > 0 || this.o.joining ? this.metaState.nodes : this.o.initialNodes;
  }

  private onMetaApplied(): void {
    const nodes = this.clusterNodes();
    this.placement = new Placement(nodes.map((n) => n.id), this.o.replicas);
    for (const n of nodes) this.mesh.ensure(n.id, n.address);
  }

  /**
   * Move each group this node leads one step toward its placement. One change at a time per group
   * (Raft's single-server rule); a learner is promoted only once it has caught up, so a write
   * committed on the old majority is on the new one before the old member leaves.
   */
  private reconcile(): void {
    if (this.closed) return;
    // A new cluster's first meta leader writes the initial node list into the log: from then on the
    // list is the log's alone (a joining node learns it as every other entry).
    if (this.meta.isLeader && this.metaState.nodes.length === 0 && !this.o.joining && !this.initProposed) {
      this.initProposed = true;
      this.meta.propose({ op: "init", nodes: this.o.initialNodes } satisfies MetaCommand).catch(() => (this.initProposed = false));
    }
    const nodes = this.clusterNodes().map((n) => n.id);
    this.step(this.meta, nodes);
    for (const [shard, g] of this.groups) this.step(g, this.placement.replicasOf(shard));
  }

  private step(g: ShardGroup, target: string[]): void {
    const raft = g.raft;
    if (!raft.isLeader || target.length === 0) return;
    const m = raft.membership;
    try {
      const missing = target.find((id) => !m.voters.includes(id) && !m.learners.includes(id));
      if (missing !== undefined) return g.changeMembers({ add: missing });
      const ready = m.learners.find((id) => target.includes(id) && raft.matchOf(id) >= raft.commit);
      if (ready !== undefined) return g.changeMembers({ promote: ready });
      const strayLearner = m.learners.find((id) => !target.includes(id));
      if (strayLearner !== undefined) return g.changeMembers({ remove: strayLearner });
      if (target.every((id) => m.voters.includes(id))) {
        const extra = m.voters.find((id) => !target.includes(id));
        if (extra === undefined) return;
        if (extra === this.o.self.id) {
          // Hand over first: the next leader removes us.
          const heir = target.find((id) => raft.matchOf(id) >= raft.lastIndex());
          if (heir !== undefined) g.transferLeadership(heir);
          return;
        }
        g.changeMembers({ remove: extra });
      }
    } catch (err) {
      // A change already in progress: next round.
      this.o.log.debug("reconcile-wait", { shard: g.shard, error: (err as Error).message });
    }
  }

  get nodes(): NodeInfo[] {
    return this.clusterNodes();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.reconciler) clearInterval(this.reconciler);
    await this.mesh.close();
    await Promise.allSettled([this.meta.close(), ...[...this.groups.values()].map((g) => g.close())]);
  }
}

/** A value must fit the store's bound once encoded. */
function checked(value: unknown): unknown {
  const bytes = encode(value).length;
  if (bytes > limits.storageValueBytesMax) throw new PeerError("LIMIT_EXCEEDED", `a value of ${bytes} bytes; the store keeps values up to ${limits.storageValueBytesMax}`);
  return value;
}

export type { RaftEntry };
