// Raft consensus for one group (Ongaro & Ousterhout 2014, with the dissertation's pre-vote, check
// quorum, single-server membership changes, learners and ReadIndex), written as a pure state
// machine in the style of etcd's raft: it never does I/O. Inputs: tick(), step(message),
// propose(), readIndex(), changeMembers(). Output: ready() — hard state and entries to persist,
// a snapshot to install, messages to send (only after the persisting is durable), entries to
// apply, reads that may proceed — then advance() once the driver has done all that.
// Everything observable is deterministic given the inputs and the random source, so the
// simulation test (test/raft/raft_simulation.test.ts) can replay any schedule by its seed.

import type { RaftEntry, RaftMessage, RaftSnapshot } from "../../protocols/raft.ts";

export type { RaftEntry, RaftMessage, RaftSnapshot };

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

export interface Membership {
  voters: string[];
  learners: string[];
}

export interface HardState {
  term: number;
  vote: string;
  commit: number;
}

export interface Ready {
  /** Set when term, vote or commit changed: persist before sending `messages`. */
  hardState: HardState | null;
  /** New log entries to persist; if the first one's index is at or below the stored last index, truncate there first. */
  entries: RaftEntry[];
  /** A snapshot received from the leader: persist it and restore the state machine from it. */
  snapshot: RaftSnapshot | null;
  /** To send once the above is durable. */
  messages: RaftMessage[];
  /** Committed entries to apply, in order. */
  committed: RaftEntry[];
  /** Read requests whose index is known: serve each once the applied index reaches it. */
  reads: Array<{ id: number; index: number }>;
}

export interface RaftOptions {
  id: string;
  /** Membership when the group has no log yet (a restarted node gets it from its log or snapshot). */
  membership: Membership;
  /** Ticks of silence before an election: randomized in [electionTicks, 2 × electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Entries per append message: bounds a message for a follower far behind. */
  entriesPerMessageMax: number;
  /** Uniform integer in [0, n): the node's only source of randomness (seeded in simulations). */
  random: (n: number) => number;
  /** What was persisted before a restart. */
  restored?: { hardState: HardState; snapshot: RaftSnapshot | null; entries: RaftEntry[] };
}

/** Thrown by propose/readIndex/changeMembers on a node that is not the leader. */
export class NotLeaderError extends Error {
  override readonly name = "NotLeaderError";
  constructor(readonly leader: string | null) {
    super(leader === null ? "no leader known" : `the leader is ${leader}`);
  }
}

interface Progress {
  match: number;
  next: number;
  /** Heard from it since the last check-quorum round. */
  active: boolean;
  /** Waiting for the reply to a snapshot: send nothing else (until it looks lost: snapshotSentTick). */
  snapshotPending: boolean;
  snapshotSentTick: number;
  /** Its log's end is not known (new leader, or a rejection): one append at a time until one succeeds; then pipelined. */
  probing: boolean;
  /** A probe was sent and not answered yet. */
  inFlight: boolean;
}

export class RaftNode {
  readonly id: string;
  role: Role = "follower";
  term = 0;
  vote = "";
  leader: string | null = null;
  commit = 0;
  /** Entries after the snapshot; entries[i] has index snapshotIndex + 1 + i. */
  private entries: RaftEntry[] = [];
  private snapshotIndex = 0;
  private snapshotTerm = 0;
  private snapshot: RaftSnapshot | null = null;
  membership: Membership;
  /** Index of the entry that set `membership` (0: the initial one). */
  private membershipIndex = 0;
  private applied = 0;
  /** Last index the driver has persisted (the leader counts itself only up to here). */
  private persisted = 0;

  /** Ticks since start: times snapshot retries. */
  private ticks = 0;
  private electionElapsed = 0;
  private electionTimeout = 0;
  private heartbeatElapsed = 0;
  private votes = new Map<string, boolean>();
  private progress = new Map<string, Progress>();

  // What the next ready() hands out.
  private msgs: RaftMessage[] = [];
  private unstableFrom = 1;
  private pendingSnapshot: RaftSnapshot | null = null;
  private hardStateDirty = false;
  private readsReady: Array<{ id: number; index: number }> = [];
  /** ReadIndex requests waiting for a heartbeat round: id → index, acks. */
  private readsPending = new Map<number, { index: number; acks: Set<string> }>();
  /** Reads asked before this leader committed an entry of its term: they wait for it. */
  private readsBeforeCommit: number[] = [];
  private nextReadId = 1;
  private readRoundNeeded = false;

  constructor(private readonly o: RaftOptions) {
    this.id = o.id;
    this.membership = clone(o.membership);
    const restored = o.restored;
    if (restored) {
      this.term = restored.hardState.term;
      this.vote = restored.hardState.vote;
      this.commit = restored.hardState.commit;
      if (restored.snapshot) {
        this.snapshot = restored.snapshot;
        this.snapshotIndex = restored.snapshot.index;
        this.snapshotTerm = restored.snapshot.term;
        this.membership = clone(restored.snapshot.membership);
        this.membershipIndex = restored.snapshot.index;
        this.applied = restored.snapshot.index;
      }
      this.entries = restored.entries.filter((e) => e.index > this.snapshotIndex);
      for (const e of this.entries) if (e.kind === "config") this.setMembership(e.data as Membership, e.index);
      this.commit = Math.max(this.commit, this.snapshotIndex);
    }
    this.persisted = this.lastIndex();
    this.unstableFrom = this.lastIndex() + 1;
    this.resetElectionTimeout();
  }

  // ---- queries -------------------------------------------------------------------------------

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1]!.term : this.snapshotTerm;
  }

  /** Term of the entry at `index`, or -1 if compacted away or beyond the log. */
  termAt(index: number): number {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return -1;
    return this.entries[index - this.snapshotIndex - 1]!.term;
  }

  get isLeader(): boolean {
    return this.role === "leader";
  }

  get appliedIndex(): number {
    return this.applied;
  }

  isVoter(id: string): boolean {
    return this.membership.voters.includes(id);
  }

  /** The entries the driver may compact: everything up to the applied index. */
  get firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  /** The log after `index` (what a compaction at `index` keeps). */
  entriesAfter(index: number): RaftEntry[] {
    return this.entries.slice(Math.max(0, index - this.snapshotIndex));
  }

  get hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.commit };
  }

  /** How far a member's log is known to match ours (the leader's view; -1 if unknown). */
  matchOf(id: string): number {
    return this.progress.get(id)?.match ?? -1;
  }

  // ---- inputs --------------------------------------------------------------------------------

  /** One unit of time has passed. */
  tick(): void {
    this.ticks++;
    if (this.role === "leader") {
      this.heartbeatElapsed++;
      this.electionElapsed++;
      if (this.electionElapsed >= this.o.electionTicks) {
        this.electionElapsed = 0;
        // Check quorum: a leader that has not heard from a majority steps down, so a partitioned
        // leader stops serving (and its side answers "unavailable" instead of stale data).
        const active = this.membership.voters.filter((v) => v === this.id || this.progress.get(v)?.active).length;
        for (const p of this.progress.values()) p.active = false;
        if (active < this.quorum()) this.becomeFollower(this.term, null);
      }
      if (this.role === "leader" && this.heartbeatElapsed >= this.o.heartbeatTicks) {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat(null);
      }
      return;
    }
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout && this.isVoter(this.id)) this.startElection(true);
  }

  /** Append a command; returns its index and term. NotLeaderError if not the leader. */
  propose(data: unknown): { index: number; term: number } {
    if (this.role !== "leader") throw new NotLeaderError(this.leader);
    const entry: RaftEntry = { index: this.lastIndex() + 1, term: this.term, kind: "normal", data };
    this.appendLocal([entry]);
    this.broadcastAppend();
    return { index: entry.index, term: entry.term };
  }

  /**
   * A linearizable read: returns a read id; ready().reads later gives it an index (the commit
   * index when it was asked, confirmed by a heartbeat round), to serve once applied reaches it.
   */
  readIndex(): number {
    if (this.role !== "leader") throw new NotLeaderError(this.leader);
    const id = this.nextReadId++;
    if (this.termAt(this.commit) !== this.term) {
      this.readsBeforeCommit.push(id); // our no-op is not committed yet: we do not know the commit index
      return id;
    }
    this.queueRead(id);
    return id;
  }

  /** Add a learner, promote a learner to voter, or remove a member: one change at a time. */
  changeMembers(change: { add?: string; promote?: string; remove?: string }): { index: number; term: number } {
    if (this.role !== "leader") throw new NotLeaderError(this.leader);
    if (this.membershipIndex > this.commit) throw new Error("a membership change is already in progress");
    const next = clone(this.membership);
    if (change.add !== undefined && !next.voters.includes(change.add) && !next.learners.includes(change.add)) next.learners.push(change.add);
    if (change.promote !== undefined && next.learners.includes(change.promote)) {
      next.learners = next.learners.filter((l) => l !== change.promote);
      next.voters.push(change.promote);
    }
    if (change.remove !== undefined) {
      next.voters = next.voters.filter((v) => v !== change.remove);
      next.learners = next.learners.filter((l) => l !== change.remove);
    }
    if (next.voters.length === 0) throw new Error("a group needs at least one voter");
    const entry: RaftEntry = { index: this.lastIndex() + 1, term: this.term, kind: "config", data: next };
    this.appendLocal([entry]);
    this.broadcastAppend();
    return { index: entry.index, term: entry.term };
  }

  /** Hand leadership to `to` (a caught-up voter): it starts an election at once. */
  transferLeadership(to: string): boolean {
    const p = this.progress.get(to);
    if (this.role !== "leader" || p === undefined || !this.isVoter(to) || p.match !== this.lastIndex()) return false;
    this.send({ type: "timeout-now", term: this.term, from: this.id, to });
    return true;
  }

  /** The driver applied entries up to `index` and took a snapshot there: drop the log before it. */
  compact(snapshot: RaftSnapshot): void {
    if (snapshot.index <= this.snapshotIndex || snapshot.index > this.applied) return;
    this.entries = this.entries.slice(snapshot.index - this.snapshotIndex);
    this.snapshotIndex = snapshot.index;
    this.snapshotTerm = snapshot.term;
    this.snapshot = snapshot;
  }

  /** Handle a message from a peer. */
  step(m: RaftMessage): void {
    // Pre-votes do not change terms; a newer term otherwise turns us into its follower.
    if (m.term > this.term && !(m.type === "vote" && m.preVote) && !(m.type === "vote-reply" && m.preVote)) {
      if (m.type === "vote" && !m.force && this.leaderLease()) return; // a leader we heard from recently still leads: ignore a disruptive candidate
      this.becomeFollower(m.term, m.type === "append" || m.type === "snapshot" ? m.from : null);
    }
    switch (m.type) {
      case "vote":
        return this.onVote(m);
      case "vote-reply":
        return this.onVoteReply(m);
      case "append":
        return this.onAppend(m);
      case "append-reply":
        return this.onAppendReply(m);
      case "snapshot":
        return this.onSnapshot(m);
      case "snapshot-reply":
        return this.onSnapshotReply(m);
      case "timeout-now":
        if (m.term === this.term && this.isVoter(this.id)) this.startElection(false, true);
        return;
    }
  }

  // ---- output --------------------------------------------------------------------------------

  hasReady(): boolean {
    return this.readRoundNeeded || this.msgs.length > 0 || this.unstableFrom <= this.lastIndex() || this.pendingSnapshot !== null || this.hardStateDirty || this.applied < this.commit || this.readsReady.length > 0;
  }

  ready(): Ready {
    if (this.readRoundNeeded) {
      this.readRoundNeeded = false;
      if (this.role === "leader") this.broadcastHeartbeat(this.nextReadId - 1);
    }
    const firstUnstable = Math.max(this.unstableFrom, this.snapshotIndex + 1);
    const ready: Ready = {
      hardState: this.hardStateDirty ? { term: this.term, vote: this.vote, commit: this.commit } : null,
      entries: this.entries.slice(firstUnstable - this.snapshotIndex - 1),
      snapshot: this.pendingSnapshot,
      messages: this.msgs,
      committed: this.entries.slice(Math.max(0, this.applied - this.snapshotIndex), Math.max(0, this.commit - this.snapshotIndex)),
      reads: this.readsReady,
    };
    this.msgs = [];
    this.readsReady = [];
    this.hardStateDirty = false;
    this.pendingSnapshot = null;
    this.unstableFrom = this.lastIndex() + 1;
    return ready;
  }

  /** The driver persisted and applied what `ready` said. */
  advance(ready: Ready): void {
    if (ready.entries.length > 0) this.persisted = Math.max(this.persisted, ready.entries[ready.entries.length - 1]!.index);
    if (ready.snapshot) {
      this.persisted = Math.max(this.persisted, ready.snapshot.index);
      this.applied = Math.max(this.applied, ready.snapshot.index);
    }
    if (ready.committed.length > 0) this.applied = Math.max(this.applied, ready.committed[ready.committed.length - 1]!.index);
    // Our own persisted entries count toward the commit quorum.
    if (this.role === "leader") {
      const self = this.progress.get(this.id);
      if (self) self.match = this.persisted;
      this.maybeCommit();
    }
  }

  // ---- roles ---------------------------------------------------------------------------------

  private becomeFollower(term: number, leader: string | null): void {
    const wasLeader = this.role === "leader";
    if (term !== this.term) {
      this.term = term;
      this.vote = "";
      this.hardStateDirty = true;
    }
    this.role = "follower";
    this.leader = leader;
    this.electionElapsed = 0;
    this.resetElectionTimeout();
    if (wasLeader) {
      this.readsPending.clear();
      this.readsBeforeCommit = [];
    }
  }

  /** preVote: first ask whether we could win, without raising the term (a partitioned node rejoining does not disrupt). */
  private startElection(preVote: boolean, force = false): void {
    this.electionElapsed = 0;
    this.resetElectionTimeout();
    this.votes = new Map([[this.id, true]]);
    if (preVote) {
      this.role = "pre-candidate";
    } else {
      this.role = "candidate";
      this.term++;
      this.vote = this.id;
      this.hardStateDirty = true;
    }
    this.leader = null;
    if (this.quorumReached()) return this.winElection(preVote);
    const term = preVote ? this.term + 1 : this.term;
    for (const v of this.membership.voters) {
      if (v !== this.id) this.send({ type: "vote", term, from: this.id, to: v, lastIndex: this.lastIndex(), lastTerm: this.lastTerm(), preVote, force: force || undefined });
    }
  }

  private winElection(preVote: boolean): void {
    if (preVote) return this.startElection(false);
    this.role = "leader";
    this.leader = this.id;
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    this.progress = new Map();
    for (const id of [...this.membership.voters, ...this.membership.learners]) {
      this.progress.set(id, { match: id === this.id ? this.persisted : 0, next: this.lastIndex() + 1, active: true, snapshotPending: false, snapshotSentTick: 0, probing: true, inFlight: false });
    }
    // A no-op of our term: committing it commits everything before it, and tells us the commit index (for reads).
    this.appendLocal([{ index: this.lastIndex() + 1, term: this.term, kind: "noop", data: null }]);
    this.broadcastAppend();
  }

  private onVote(m: Extract<RaftMessage, { type: "vote" }>): void {
    const upToDate = m.lastTerm > this.lastTerm() || (m.lastTerm === this.lastTerm() && m.lastIndex >= this.lastIndex());
    let granted: boolean;
    if (m.preVote) {
      // Would we vote in a real election of that term? Not while a leader we heard from is alive.
      granted = m.term > this.term && upToDate && (m.force === true || !this.leaderLease());
    } else {
      granted = m.term === this.term && (this.vote === "" || this.vote === m.from) && upToDate;
      if (granted) {
        this.vote = m.from;
        this.hardStateDirty = true;
        this.electionElapsed = 0;
      }
    }
    this.send({ type: "vote-reply", term: m.preVote ? m.term : this.term, from: this.id, to: m.from, granted, preVote: m.preVote });
  }

  private onVoteReply(m: Extract<RaftMessage, { type: "vote-reply" }>): void {
    if (m.preVote ? this.role !== "pre-candidate" || m.term !== this.term + 1 : this.role !== "candidate" || m.term !== this.term) return;
    this.votes.set(m.from, m.granted);
    if (this.quorumReached()) this.winElection(m.preVote);
    else if ([...this.votes.values()].filter((g) => !g).length >= this.quorum()) this.becomeFollower(this.term, null);
  }

  private quorumReached(): boolean {
    return this.membership.voters.filter((v) => this.votes.get(v) === true).length >= this.quorum();
  }

  private quorum(): number {
    return Math.floor(this.membership.voters.length / 2) + 1;
  }

  /** Heard from a leader within the minimum election timeout: votes for others are refused. */
  private leaderLease(): boolean {
    return this.leader !== null && this.role === "follower" && this.electionElapsed < this.o.electionTicks;
  }

  private resetElectionTimeout(): void {
    this.electionTimeout = this.o.electionTicks + this.o.random(this.o.electionTicks);
  }

  // ---- replication ---------------------------------------------------------------------------

  private appendLocal(entries: RaftEntry[]): void {
    for (const e of entries) {
      this.entries.push(e);
      if (e.kind === "config") this.setMembership(e.data as Membership, e.index);
    }
  }

  /** A configuration takes effect as soon as it is in the log (Raft dissertation §4.1). */
  private setMembership(membership: Membership, index: number): void {
    this.membership = clone(membership);
    this.membershipIndex = index;
    if (this.role === "leader") {
      for (const id of [...membership.voters, ...membership.learners]) {
        if (!this.progress.has(id)) this.progress.set(id, { match: 0, next: this.lastIndex() + 1, active: true, snapshotPending: false, snapshotSentTick: 0, probing: true, inFlight: false });
      }
      for (const id of [...this.progress.keys()]) if (!membership.voters.includes(id) && !membership.learners.includes(id) && id !== this.id) this.progress.delete(id);
    }
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, false);
  }

  private broadcastHeartbeat(readId: number | null): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true, readId);
  }

  /** Send `to` what it lacks (or a heartbeat); a snapshot if its next entry is compacted away. */
  private sendAppend(to: string, heartbeat: boolean, readId: number | null = null): void {
    const p = this.progress.get(to)!;
    if (p.snapshotPending) {
      if (heartbeat) this.send({ type: "append", term: this.term, from: this.id, to, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, readId: readId ?? undefined, probe: true });
      return;
    }
    const prevIndex = p.next - 1;
    const prevTerm = this.termAt(prevIndex);
    if (prevTerm < 0) {
      if (this.snapshot === null) return; // nothing to send yet (cannot happen once the driver snapshots)
      p.snapshotPending = true;
      p.snapshotSentTick = this.ticks;
      this.send({ type: "snapshot", term: this.term, from: this.id, to, snapshot: this.snapshot });
      return;
    }
    // A heartbeat carries nothing; a probe carries entries but waits for its answer before the
    // next; a follower known to match gets every new entry at once (pipelined).
    if (!heartbeat && p.probing && p.inFlight) return; // one probe at a time
    const entries = heartbeat ? [] : this.entries.slice(prevIndex - this.snapshotIndex, prevIndex - this.snapshotIndex + this.o.entriesPerMessageMax);
    if (!heartbeat && entries.length === 0 && !p.probing) return; // nothing new for it
    if (!heartbeat && p.probing) p.inFlight = true;
    else if (entries.length > 0) p.next = prevIndex + entries.length + 1;
    this.send({ type: "append", term: this.term, from: this.id, to, prevIndex, prevTerm, entries, commit: this.commit, readId: readId ?? undefined });
  }

  private onAppend(m: Extract<RaftMessage, { type: "append" }>): void {
    const reply = (success: boolean, matchIndex: number): void =>
      this.send({ type: "append-reply", term: this.term, from: this.id, to: m.from, success, matchIndex, readId: m.readId });
    if (m.term < this.term) return reply(false, 0);
    if (this.role !== "follower" || this.leader !== m.from) this.becomeFollower(m.term, m.from);
    this.electionElapsed = 0;
    if (m.probe) return reply(false, this.lastIndex());
    if (m.prevIndex < this.snapshotIndex) {
      // Already in our snapshot: skip what we have.
      const skip = this.snapshotIndex - m.prevIndex;
      if (skip >= m.entries.length) return reply(true, this.snapshotIndex);
      return this.onAppend({ ...m, prevIndex: this.snapshotIndex, prevTerm: this.snapshotTerm, entries: m.entries.slice(skip) });
    }
    if (this.termAt(m.prevIndex) !== m.prevTerm) {
      // Conflict: hint where our log could match: our end, or before the conflicting term's first entry.
      const hint = m.prevIndex > this.lastIndex() ? this.lastIndex() : this.firstIndexOfTerm(this.termAt(m.prevIndex), m.prevIndex) - 1;
      return reply(false, Math.max(this.snapshotIndex, hint));
    }
    // Append what is new; truncate at the first entry whose term differs (never below commit).
    let at = 0;
    for (; at < m.entries.length; at++) {
      const e = m.entries[at]!;
      const have = this.termAt(e.index);
      if (have === e.term) continue;
      if (have >= 0) {
        if (e.index <= this.commit) throw new Error(`raft ${this.id}: leader ${m.from} rewrites committed entry ${e.index}`);
        this.entries = this.entries.slice(0, e.index - this.snapshotIndex - 1);
        this.unstableFrom = Math.min(this.unstableFrom, e.index);
        this.persisted = Math.min(this.persisted, e.index - 1);
        this.reloadMembership();
      }
      break;
    }
    if (at < m.entries.length) this.appendLocal(m.entries.slice(at));
    const lastNew = m.prevIndex + m.entries.length;
    if (m.commit > this.commit) {
      this.commit = Math.min(m.commit, lastNew);
      this.hardStateDirty = true;
    }
    reply(true, lastNew);
  }

  /** The first index of the run of `term` entries that contains `from`. */
  private firstIndexOfTerm(term: number, from: number): number {
    let i = from;
    while (i - 1 > this.snapshotIndex && this.termAt(i - 1) === term) i--;
    return i;
  }

  /** After a truncation: the membership is the last config entry left (or the snapshot's). */
  private reloadMembership(): void {
    let found: RaftEntry | undefined;
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.kind === "config") {
      found = this.entries[i];
      break;
    }
    if (found) this.setMembership(found.data as Membership, found.index);
    else if (this.snapshot) this.setMembership(this.snapshot.membership, this.snapshot.index);
    else {
      this.membership = clone(this.o.membership);
      this.membershipIndex = 0;
    }
  }

  private onAppendReply(m: Extract<RaftMessage, { type: "append-reply" }>): void {
    if (this.role !== "leader" || m.term !== this.term) return;
    const p = this.progress.get(m.from);
    if (p === undefined) return;
    p.active = true;
    p.inFlight = false;
    if (m.readId !== undefined) this.ackRead(m.readId, m.from);
    if (p.snapshotPending) {
      // Only probes go out meanwhile. A snapshot unanswered for an election timeout is taken as lost: resend.
      if (this.ticks - p.snapshotSentTick < this.o.electionTicks * 2) return;
      p.snapshotPending = false;
    }
    if (m.success) {
      if (m.matchIndex > p.match) {
        p.match = m.matchIndex;
        this.maybeCommit();
      }
      p.next = Math.max(p.next, p.match + 1);
      if (p.probing) {
        p.probing = false;
        p.next = p.match + 1;
      }
      if (p.next <= this.lastIndex()) this.sendAppend(m.from, false);
      return;
    }
    // Rejected (or a probe answered with the follower's end): back up to its hint, probe again.
    if (m.matchIndex < p.match) return; // a stale rejection: we already know it matches further
    p.next = Math.max(p.match + 1, Math.min(p.next - 1, m.matchIndex + 1));
    p.probing = true;
    this.sendAppend(m.from, false);
  }

  private onSnapshot(m: Extract<RaftMessage, { type: "snapshot" }>): void {
    if (m.term < this.term) return;
    this.electionElapsed = 0;
    const s = m.snapshot;
    if (s.index <= this.commit) {
      this.send({ type: "snapshot-reply", term: this.term, from: this.id, to: m.from, index: this.commit });
      return;
    }
    // Keep the log after the snapshot if it matches; otherwise start from the snapshot alone.
    this.entries = this.termAt(s.index) === s.term ? this.entries.slice(s.index - this.snapshotIndex) : [];
    this.snapshotIndex = s.index;
    this.snapshotTerm = s.term;
    this.snapshot = s;
    this.commit = s.index;
    this.hardStateDirty = true;
    this.pendingSnapshot = s;
    this.unstableFrom = s.index + 1;
    this.setMembership(s.membership, s.index);
    this.reloadMembership();
    this.send({ type: "snapshot-reply", term: this.term, from: this.id, to: m.from, index: s.index });
  }

  private onSnapshotReply(m: Extract<RaftMessage, { type: "snapshot-reply" }>): void {
    if (this.role !== "leader" || m.term !== this.term) return;
    const p = this.progress.get(m.from);
    if (p === undefined) return;
    p.active = true;
    p.snapshotPending = false;
    p.match = Math.max(p.match, m.index);
    p.next = p.match + 1;
    this.maybeCommit();
    this.sendAppend(m.from, false);
  }

  /** Commit the highest index a majority of voters has, if it is of our term (Raft §5.4.2). */
  private maybeCommit(): void {
    const matches = this.membership.voters.map((v) => (v === this.id ? this.persisted : this.progress.get(v)?.match ?? 0)).sort((a, b) => b - a);
    const candidate = matches[this.quorum() - 1] ?? 0;
    if (candidate > this.commit && this.termAt(candidate) === this.term) {
      this.commit = candidate;
      this.hardStateDirty = true;
      this.broadcastAppend(); // followers learn the commit index without waiting for a heartbeat
      if (this.readsBeforeCommit.length > 0) {
        const waiting = this.readsBeforeCommit;
        this.readsBeforeCommit = [];
        for (const id of waiting) this.queueRead(id);
      }
      // A leader removed from the group steps down once the change is committed.
      if (!this.isVoter(this.id) && this.membershipIndex <= this.commit) this.becomeFollower(this.term, null);
    }
  }

  // ---- reads ---------------------------------------------------------------------------------

  private queueRead(id: number): void {
    if (this.quorum() === 1) {
      this.readsReady.push({ id, index: this.commit });
      return;
    }
    this.readsPending.set(id, { index: this.commit, acks: new Set([this.id]) });
    this.readRoundNeeded = true; // one heartbeat round, sent at ready(), confirms every read asked this turn
  }

  private ackRead(readId: number, from: string): void {
    // An ack for a read also confirms every earlier pending read (heartbeats are answered in order).
    for (const [id, pending] of this.readsPending) {
      if (id > readId) break;
      if (this.isVoter(from)) pending.acks.add(from);
      if (this.membership.voters.filter((v) => pending.acks.has(v)).length >= this.quorum()) {
        this.readsPending.delete(id);
        this.readsReady.push({ id, index: pending.index });
      }
    }
  }

  private send(m: RaftMessage): void {
    this.msgs.push(m);
  }
}

function clone(m: Membership): Membership {
  return { voters: [...m.voters], learners: [...m.learners] };
}
