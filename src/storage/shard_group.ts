// One replication group on this node: a shard's (or the meta group's) RaftNode driven against its
// WAL and its state machine. The drive loop, once per event-loop turn while there is work: take
// the node's Ready, persist it (one write and one fdatasync for the whole turn: group commit),
// then send its messages, apply the committed entries (resolving the proposals made here), and
// serve the reads whose index is applied.
// Outcomes for callers: a proposal resolves with its result once applied; it fails NOT_LEADER
// (definite) when another entry took its index, or TIMEOUT (indefinite) when it is not applied in
// time. A read fails NOT_LEADER (definite: reads change nothing) when leadership is lost first.

import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { NotLeaderError, RaftNode, type Membership, type RaftEntry, type RaftMessage, type RaftSnapshot, type Ready } from "../raft/raft_node.ts";
import { Wal } from "../raft/wal.ts";

export interface StateMachine {
  apply(data: unknown, entry: RaftEntry): unknown;
  snapshot(): unknown;
  restore(data: unknown): void;
}

interface PendingProposal {
  term: number;
  resolve: (result: unknown) => void;
  reject: (err: PeerError) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface ShardGroupOptions {
  shard: number;
  self: string;
  dir: string;
  fsync: boolean;
  membership: Membership;
  machine: StateMachine;
  send: (messages: RaftMessage[]) => void;
  /** The address of a node (for NOT_LEADER hints). */
  addressOf: (id: string) => string | undefined;
  random: (n: number) => number;
  /** Called after committed entries were applied (watches, reconciliation). */
  onApplied?: (entries: RaftEntry[]) => void;
}

export class ShardGroup {
  readonly shard: number;
  readonly raft: RaftNode;
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly readsWaiting = new Map<number, { resolve: () => void; reject: (err: PeerError) => void }>();
  /** Reads whose index is known, waiting for the applied index to reach it. */
  private readsToApply: Array<{ index: number; resolve: () => void }> = [];
  private driving = false;
  private again = false;
  private scheduled = false;
  private closed = false;
  private lastLeaderContactMs = Date.now();

  private constructor(
    private readonly o: ShardGroupOptions,
    private readonly wal: Wal,
    restored: { hardState: { term: number; vote: string; commit: number }; snapshot: RaftSnapshot | null; entries: RaftEntry[] } | undefined,
  ) {
    this.shard = o.shard;
    if (restored?.snapshot) o.machine.restore(restored.snapshot.data);
    this.raft = new RaftNode({
      id: o.self,
      membership: o.membership,
      electionTicks: limits.raftElectionTicks,
      heartbeatTicks: limits.raftHeartbeatTicks,
      entriesPerMessageMax: limits.raftEntriesPerMessageMax,
      random: o.random,
      restored,
    });
  }

  static async open(o: ShardGroupOptions): Promise<ShardGroup> {
    const { wal, contents } = await Wal.open(o.dir, o.fsync);
    const fresh = contents.hardState.term === 0 && contents.entries.length === 0 && contents.snapshot === null;
    const group = new ShardGroup(o, wal, fresh ? undefined : contents);
    group.schedule(); // re-apply what the log says is committed
    return group;
  }

  get isLeader(): boolean {
    return this.raft.isLeader;
  }

  /** The leader's address as far as this node knows (null: none known). */
  leaderHint(): string | null {
    const leader = this.raft.leader;
    return leader === null ? null : (this.o.addressOf(leader) ?? null);
  }

  /** NOT_LEADER with a hint when a leader is known elsewhere; UNAVAILABLE when none is. */
  notLeader(): PeerError {
    const hint = this.leaderHint();
    if (hint === null || this.raft.leader === this.o.self) return new PeerError("UNAVAILABLE", `shard ${this.shard} has no leader reachable from here (term ${this.raft.term}): nothing was done, try again`);
    return new PeerError("NOT_LEADER", `shard ${this.shard} is led by ${this.raft.leader}`, { hint });
  }

  /** Replicate a command; resolves with the state machine's result once applied here. */
  propose(data: unknown): Promise<unknown> {
    let at: { index: number; term: number };
    try {
      at = this.raft.propose(data);
    } catch (err) {
      if (err instanceof NotLeaderError) return Promise.reject(this.notLeader());
      throw err;
    }
    this.schedule();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.proposals.delete(at.index);
        reject(new PeerError("TIMEOUT", `shard ${this.shard}: not applied within ${limits.storageProposalTimeoutMs} ms; it may still be`));
      }, limits.storageProposalTimeoutMs);
      this.proposals.set(at.index, { term: at.term, resolve, reject, timer });
    });
  }

  /** Resolves when a linearizable read may be served from the state machine here. */
  readBarrier(): Promise<void> {
    let id: number;
    try {
      id = this.raft.readIndex();
    } catch (err) {
      if (err instanceof NotLeaderError) return Promise.reject(this.notLeader());
      throw err;
    }
    this.schedule();
    return new Promise((resolve, reject) => this.readsWaiting.set(id, { resolve, reject }));
  }

  /** A membership change of this group (the leader reconciling the shard's replicas). */
  changeMembers(change: { add?: string; promote?: string; remove?: string }): void {
    this.raft.changeMembers(change);
    this.schedule();
  }

  transferLeadership(to: string): boolean {
    const ok = this.raft.transferLeadership(to);
    if (ok) this.schedule();
    return ok;
  }

  tick(): void {
    this.raft.tick();
    this.schedule();
  }

  step(message: RaftMessage): void {
    if (message.type === "append" || message.type === "snapshot") this.lastLeaderContactMs = Date.now();
    this.raft.step(message);
    this.schedule();
  }

  /** When a leader last reached this replica (or now, if it leads). */
  get quietMs(): number {
    return this.raft.isLeader ? 0 : Date.now() - this.lastLeaderContactMs;
  }

  /** Run the drive loop at the end of this turn: everything that happened in the turn is one batch. */
  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.drive();
    });
  }

  private async drive(): Promise<void> {
    if (this.driving) {
      this.again = true;
      return;
    }
    this.driving = true;
    try {
      do {
        this.again = false;
        while (!this.closed && this.raft.hasReady()) await this.handle(this.raft.ready());
      } while (this.again && !this.closed);
      if (!this.raft.isLeader) this.failReads();
      // Inside the loop's turn, so no WAL write runs while the WAL is rewritten.
      if (this.wal.bytes > limits.walBytesCompact && !this.closed) await this.compact();
    } finally {
      this.driving = false;
    }
  }

  private async handle(ready: Ready): Promise<void> {
    if (ready.snapshot) {
      await this.wal.installSnapshot(ready.snapshot, ready.hardState ?? this.raft.hardState);
      this.o.machine.restore(ready.snapshot.data);
    }
    if (ready.hardState) this.wal.saveHardState(ready.hardState);
    this.wal.saveEntries(ready.entries);
    // A leader's appends go out while its own disk write is under way (Raft dissertation §10.2.1):
    // it counts itself toward a commit only once persisted. Everything else (votes, a follower's
    // acknowledgements) waits for the disk.
    const early: RaftMessage[] = this.raft.isLeader ? ready.messages.filter((m) => m.type === "append" || m.type === "snapshot" || m.type === "timeout-now") : [];
    if (early.length > 0) this.o.send(early);
    await this.wal.sync();
    const late = early.length > 0 ? ready.messages.filter((m) => !early.includes(m)) : ready.messages;
    if (late.length > 0) this.o.send(late);
    for (const entry of ready.committed) this.apply(entry);
    for (const r of ready.reads) {
      const waiting = this.readsWaiting.get(r.id);
      if (waiting === undefined) continue;
      this.readsWaiting.delete(r.id);
      this.readsToApply.push({ index: r.index, resolve: waiting.resolve });
    }
    this.raft.advance(ready);
    const applied = this.raft.appliedIndex;
    if (this.readsToApply.length > 0) {
      const due = this.readsToApply.filter((r) => r.index <= applied);
      this.readsToApply = this.readsToApply.filter((r) => r.index > applied);
      for (const r of due) r.resolve();
    }
    if (ready.committed.length > 0) this.o.onApplied?.(ready.committed);
  }

  private apply(entry: RaftEntry): void {
    const result = entry.kind === "normal" ? this.o.machine.apply(entry.data, entry) : undefined;
    const pending = this.proposals.get(entry.index);
    if (pending === undefined) return;
    this.proposals.delete(entry.index);
    clearTimeout(pending.timer);
    if (pending.term === entry.term) pending.resolve(result);
    else pending.reject(new PeerError("NOT_LEADER", `shard ${this.shard}: leadership changed before this write was committed; it was not applied`, { hint: this.leaderHint() ?? undefined }));
  }

  private failReads(): void {
    if (this.readsWaiting.size === 0) return;
    const err = this.notLeader();
    for (const r of this.readsWaiting.values()) r.reject(err);
    this.readsWaiting.clear();
  }

  /** Snapshot the state machine at the applied index and rewrite the WAL without what it covers. */
  private async compact(): Promise<void> {
    const index = this.raft.appliedIndex;
    const term = this.raft.termAt(index);
    if (index < this.raft.firstIndex || term < 0) return;
    const snapshot: RaftSnapshot = { index, term, membership: this.raft.membership, data: this.o.machine.snapshot() };
    this.raft.compact(snapshot);
    await this.wal.compact(snapshot, this.raft.hardState, this.raft.entriesAfter(index));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.proposals.values()) {
      clearTimeout(p.timer);
      p.reject(new PeerError("SHUTTING_DOWN", "the storage node is stopping"));
    }
    this.proposals.clear();
    await this.wal.close();
  }
}
