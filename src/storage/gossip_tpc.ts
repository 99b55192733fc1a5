// Gossip mode: updateIfValueIs and cas by two-phase commit across the shard's live replicas (the
// seed's 3.2.3). The replica that receives the op coordinates:
// 1. checks the condition on its newest version of the key (false: not applied, no 2PC), locks the
//    key, and sends tpc.prepare (that newest (version, replica)) to every other replica it is
//    connected to (or connects to within gossipPeerWaitMs); a replica votes yes and locks the key if its newest is the same slot and the
//    key is not locked by another transaction, no otherwise (a replica that does not answer within
//    gossipVoteTimeoutMs votes no);
// 2. all yes (and its own newest unchanged): writes the new version here, and sends tpc.decide
//    with it (commit); otherwise tpc.decide abort. Either unlocks.
// Two concurrent ones on one key both abort (each finds the other's lock somewhere): the seed's
// choice. A replica not connected when phase 1 starts is left out (it gets the update by gossip).
// A lock whose decision never comes (the coordinator died) expires after gossipLockMs: until then
// plain writes to the key at that replica answer UNAVAILABLE and other 2PCs on it abort.

import { storage, type GossipUpdate } from "../../protocols/storage.ts";
import { crashNow, failpoint } from "../failpoints.ts";
import { limits } from "../limits.ts";
import type { Upstream } from "../runtime/upstream.ts";
import type { Slot } from "./gossip_state.ts";

export interface TwoPhaseCommitOptions {
  self: string;
  peer: (id: string) => Upstream | undefined;
  replicasOf: (shard: number) => string[];
  newest: (shard: number, key: string) => Slot | undefined;
  /** Write a new version here (logged before it resolves). */
  commit: (shard: number, key: string, value: unknown) => Promise<GossipUpdate>;
  /** Apply a committed update that another replica coordinated. */
  apply: (shard: number, u: GossipUpdate) => Promise<void>;
}

interface Lock {
  txn: string;
  expiresAtMs: number;
}

export class TwoPhaseCommit {
  /** key → the transaction holding it (a key lives in one shard, so keys do not collide). */
  private readonly locks = new Map<string, Lock>();
  private seq = 0;

  constructor(private readonly o: TwoPhaseCommitOptions) {}

  locked(key: string): boolean {
    const lock = this.locks.get(key);
    if (lock !== undefined && lock.expiresAtMs <= performance.now()) this.locks.delete(key);
    return this.locks.has(key);
  }

  private lock(key: string, txn: string): boolean {
    if (this.locked(key)) return false;
    this.locks.set(key, { txn, expiresAtMs: performance.now() + limits.gossipLockMs });
    return true;
  }

  private unlock(key: string, txn: string): void {
    if (this.locks.get(key)?.txn === txn) this.locks.delete(key);
  }

  /** Coordinate one conditional update; `holds` is the condition on our newest version. */
  async run(shard: number, key: string, newValue: unknown, holds: (newest: Slot | undefined) => boolean): Promise<{ applied: boolean; version: number }> {
    const newest = this.o.newest(shard, key);
    const version = newest?.version ?? 0;
    if (!holds(newest)) return { applied: false, version };
    const txn = `${this.o.self}:${++this.seq}:${Date.now()}`;
    if (!this.lock(key, txn)) return { applied: false, version }; // another 2PC holds the key here: abort
    const participants = await this.live(shard);
    const prepare = { shard, txn, key, version, replica: newest?.replica ?? "" };
    const votes = await Promise.all(participants.map((id) =>
      this.o.peer(id)!.call(storage, "tpc.prepare", prepare, limits.gossipVoteTimeoutMs).then((r) => r.vote, () => false)));
    const same = this.o.newest(shard, key);
    const commit = votes.every((v) => v) && this.locks.get(key)?.txn === txn && same?.version === newest?.version && same?.replica === newest?.replica;
    if (commit && failpoint("gossip-coordinator-crash-after-prepare") !== undefined) crashNow();
    const update = commit ? await this.o.commit(shard, key, newValue) : undefined;
    const decide = { shard, txn, key, commit, ...(update !== undefined ? { update } : {}) };
    // Every participant is told, also those that voted no (they may have locked after a timeout).
    await Promise.allSettled(participants.map((id) => this.o.peer(id)!.call(storage, "tpc.decide", decide, limits.gossipVoteTimeoutMs)));
    this.unlock(key, txn);
    return update !== undefined ? { applied: true, version: update[1] } : { applied: false, version };
  }

  /** The shard's other replicas we are connected to, or connect to within gossipPeerWaitMs (a link still coming up after a start is not a dead replica). */
  private async live(shard: number): Promise<string[]> {
    const others = this.o.replicasOf(shard).filter((id) => id !== this.o.self);
    const up = await Promise.all(others.map((id) => this.o.peer(id)?.ready(limits.gossipPeerWaitMs).then(() => true, () => false) ?? false));
    return others.filter((_, i) => up[i]);
  }

  prepare(a: { shard: number; txn: string; key: string; version: number; replica: string }): { vote: boolean; version: number } {
    const newest = this.o.newest(a.shard, a.key);
    const same = (newest?.version ?? 0) === a.version && (newest?.replica ?? "") === a.replica;
    return { vote: same && this.lock(a.key, a.txn), version: newest?.version ?? 0 };
  }

  async decide(a: { shard: number; txn: string; key: string; commit: boolean; update?: GossipUpdate }): Promise<Record<string, never>> {
    this.unlock(a.key, a.txn);
    if (a.commit && a.update !== undefined) await this.o.apply(a.shard, a.update);
    return {};
  }
}
