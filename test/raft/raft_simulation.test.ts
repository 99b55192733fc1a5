// Goal: RaftNode (src/raft/raft_node.ts) is safe under any schedule — at most one leader per term,
// every node applies the same entry at the same index, nothing applied is ever lost, reads served
// after a write was acknowledged see it — and live once the faults stop. Method: a deterministic
// simulation (virtual ticks, seeded randomness) of 3 or 5 nodes with message delays, drops,
// duplicates, partitions, crashes with restarts from what they persisted, snapshots, and
// membership changes; many seeds, each printed on failure so it can be replayed.

import { describe, expect, test } from "bun:test";
import { NotLeaderError, RaftNode, type HardState, type Membership, type RaftEntry, type RaftMessage, type RaftSnapshot } from "../../src/raft/raft_node.ts";
import { seededRandom } from "../../src/seeded_random.ts";

interface Stored {
  hardState: HardState;
  snapshot: RaftSnapshot | null;
  entries: RaftEntry[];
}

interface SimNode {
  id: string;
  raft: RaftNode | null; // null while crashed
  stored: Stored;
  /** The state machine: the values applied, in order (index → value). */
  applied: Map<number, unknown>;
  appliedUpTo: number;
}

interface InFlight {
  deliverAt: number;
  message: RaftMessage;
}

export class Simulation {
  readonly nodes = new Map<string, SimNode>();
  private network: InFlight[] = [];
  now = 0;
  /** term → leader seen. */
  private leaders = new Map<number, string>();
  /** index → entry applied anywhere (term and data): every node must agree. */
  private appliedAnywhere = new Map<number, { term: number; data: unknown }>();
  /** Partition: node → side; messages cross only within a side. */
  private side = new Map<string, number>();
  readonly acked: Array<{ value: number; index: number; atTick: number }> = [];
  readonly reads: Array<{ startTick: number; index: number }> = [];
  private pendingReads = new Map<string, Map<number, number>>(); // node → read id → start tick
  private pendingProposals = new Map<string, { value: number; index: number; term: number }[]>();
  readonly violations: string[] = [];
  private nextValue = 1;

  constructor(
    private readonly rand: (n: number) => number,
    ids: string[],
    private readonly lossPercent: number,
  ) {
    const membership: Membership = { voters: ids, learners: [] };
    for (const id of ids) {
      const node: SimNode = { id, raft: null, stored: { hardState: { term: 0, vote: "", commit: 0 }, snapshot: null, entries: [] }, applied: new Map(), appliedUpTo: 0 };
      this.nodes.set(id, node);
      this.start(node, membership);
    }
  }

  private start(node: SimNode, membership: Membership): void {
    const restored = node.stored.hardState.term > 0 || node.stored.entries.length > 0 || node.stored.snapshot ? node.stored : undefined;
    node.raft = new RaftNode({ id: node.id, membership, electionTicks: 10, heartbeatTicks: 2, entriesPerMessageMax: 8, random: this.rand, restored: restored && structuredClone(restored) });
    // The state machine restarts from the snapshot (as a real one does), then re-applies the log.
    node.applied = new Map();
    node.appliedUpTo = 0;
    const snap = node.stored.snapshot;
    if (snap) {
      for (const [i, v] of snap.data as Array<[number, unknown]>) node.applied.set(i, v);
      node.appliedUpTo = snap.index;
    }
    this.pendingReads.set(node.id, new Map());
    this.pendingProposals.set(node.id, []);
  }

  crash(id: string): void {
    const node = this.nodes.get(id)!;
    node.raft = null;
  }

  restart(id: string, membership: Membership): void {
    const node = this.nodes.get(id)!;
    if (node.raft === null) this.start(node, membership);
  }

  partition(groups: string[][]): void {
    this.side.clear();
    groups.forEach((g, i) => g.forEach((id) => this.side.set(id, i)));
  }

  heal(): void {
    this.side.clear();
  }

  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) if (n.raft?.isLeader && (best === null || n.raft.term > best.raft!.term)) best = n;
    return best;
  }

  propose(): void {
    const l = this.leader();
    if (l === null) return;
    const value = this.nextValue++;
    try {
      const { index, term } = l.raft!.propose(value);
      this.pendingProposals.get(l.id)!.push({ value, index, term });
    } catch (err) {
      if (!(err instanceof NotLeaderError)) throw err;
    }
  }

  /** Reads go to any node that believes it leads — a deposed leader on the minority side too. */
  read(): void {
    const leaders = [...this.nodes.values()].filter((n) => n.raft?.isLeader);
    if (leaders.length === 0) return;
    const l = leaders[this.rand(leaders.length)]!;
    const id = l.raft!.readIndex();
    this.pendingReads.get(l.id)!.set(id, this.now);
  }

  changeMembers(change: { add?: string; promote?: string; remove?: string }): boolean {
    const l = this.leader();
    if (l === null) return false;
    try {
      l.raft!.changeMembers(change);
      return true;
    } catch {
      return false;
    }
  }

  /** One tick: every live node ticks, due messages are delivered, every node's ready is processed. */
  step(): void {
    this.now++;
    for (const n of this.nodes.values()) n.raft?.tick();
    const due = this.network.filter((m) => m.deliverAt <= this.now);
    this.network = this.network.filter((m) => m.deliverAt > this.now);
    for (const { message } of due) {
      const to = this.nodes.get(message.to);
      if (to?.raft && this.side.get(message.from) === this.side.get(message.to)) to.raft.step(message);
    }
    for (const n of this.nodes.values()) this.process(n);
  }

  private process(n: SimNode): void {
    const raft = n.raft;
    if (raft === null || !raft.hasReady()) return;
    const ready = raft.ready();
    // Persist, as a real node does before sending anything.
    if (ready.snapshot) {
      n.stored.snapshot = structuredClone(ready.snapshot);
      n.stored.entries = n.stored.entries.filter((e) => e.index > ready.snapshot!.index);
      n.applied = new Map((ready.snapshot.data as Array<[number, unknown]>).map(([i, v]) => [i, v]));
      n.appliedUpTo = ready.snapshot.index;
    }
    if (ready.entries.length > 0) {
      const first = ready.entries[0]!.index;
      n.stored.entries = n.stored.entries.filter((e) => e.index < first).concat(structuredClone(ready.entries));
    }
    if (ready.hardState) n.stored.hardState = { ...ready.hardState };
    for (const m of ready.messages) {
      if (this.rand(100) < this.lossPercent) continue;
      const copies = this.rand(20) === 0 ? 2 : 1; // duplicates happen
      for (let c = 0; c < copies; c++) this.network.push({ deliverAt: this.now + 1 + this.rand(4), message: structuredClone(m) });
    }
    for (const e of ready.committed) {
      if (e.index <= n.appliedUpTo) continue;
      if (e.index !== n.appliedUpTo + 1) this.violations.push(`${n.id} applies ${e.index} after ${n.appliedUpTo}`);
      const seen = this.appliedAnywhere.get(e.index);
      if (seen === undefined) this.appliedAnywhere.set(e.index, { term: e.term, data: e.data });
      else if (seen.term !== e.term || JSON.stringify(seen.data) !== JSON.stringify(e.data)) this.violations.push(`index ${e.index}: ${n.id} applied term ${e.term} ${JSON.stringify(e.data)}, another node term ${seen.term} ${JSON.stringify(seen.data)}`);
      n.applied.set(e.index, e.kind === "normal" ? e.data : null);
      n.appliedUpTo = e.index;
    }
    raft.advance(ready);
    // Acks: a proposal is acknowledged once its leader applied it (with its own term at that index).
    const proposals = this.pendingProposals.get(n.id)!;
    for (let i = proposals.length - 1; i >= 0; i--) {
      const p = proposals[i]!;
      if (n.appliedUpTo >= p.index) {
        const at = this.appliedAnywhere.get(p.index);
        if (at?.term === p.term) this.acked.push({ value: p.value, index: p.index, atTick: this.now });
        proposals.splice(i, 1);
      }
    }
    // Reads whose index is confirmed are served once applied reaches it.
    const reads = this.pendingReads.get(n.id)!;
    for (const r of ready.reads) {
      const start = reads.get(r.id);
      if (start === undefined) continue;
      reads.delete(r.id);
      this.reads.push({ startTick: start, index: Math.max(r.index, n.appliedUpTo) });
    }
    // Safety checks.
    if (raft.isLeader) {
      const other = this.leaders.get(raft.term);
      if (other !== undefined && other !== n.id) this.violations.push(`two leaders in term ${raft.term}: ${other} and ${n.id}`);
      this.leaders.set(raft.term, n.id);
      // Leader completeness: the leader's log holds every entry applied anywhere.
      for (const [index, e] of this.appliedAnywhere) {
        const t = raft.termAt(index);
        if (t >= 0 && t !== e.term) this.violations.push(`leader ${n.id} (term ${raft.term}) has term ${t} at applied index ${index} (term ${e.term})`);
        if (index > raft.lastIndex()) this.violations.push(`leader ${n.id} (term ${raft.term}) lacks applied index ${index}`);
      }
    }
    // Snapshots now and then.
    if (this.rand(30) === 0 && n.appliedUpTo > raft.firstIndex + 3) {
      const index = n.appliedUpTo;
      const snap: RaftSnapshot = { index, term: raft.termAt(index), membership: raft.membership, data: [...n.applied].filter(([i]) => i <= index) };
      if (snap.term >= 0) {
        raft.compact(snap);
        n.stored.snapshot = structuredClone(snap);
        n.stored.entries = n.stored.entries.filter((e) => e.index > index);
      }
    }
  }

  /** Reads are linearizable: a read started after a write was acked is served at or after its index. */
  checkReads(): void {
    for (const r of this.reads) {
      for (const a of this.acked) {
        if (a.atTick < r.startTick && r.index < a.index) this.violations.push(`read started at tick ${r.startTick} served at index ${r.index}, before write ${a.value} acked at tick ${a.atTick} (index ${a.index})`);
      }
    }
  }
}

export function runSeed(seed: number, nodes: number, ticks: number, withMembership: boolean): { violations: string[]; acked: number; reads: number; liveAtEnd: boolean } {
  const rand = seededRandom(seed);
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  const sim = new Simulation(rand, ids, rand(15));
  let membership: Membership = { voters: [...ids], learners: [] };
  const spare = "n9";
  let spareAdded = false;
  for (let t = 0; t < ticks; t++) {
    const r = rand(1000);
    if (r < 8) {
      // A partition: a random split into two sides.
      const shuffled = [...sim.nodes.keys()].sort(() => rand(3) - 1);
      const cut = 1 + rand(shuffled.length - 1);
      sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    } else if (r < 20) sim.heal();
    else if (r < 26) sim.crash(ids[rand(ids.length)]!);
    else if (r < 40) for (const id of sim.nodes.keys()) sim.restart(id, membership);
    if (withMembership && rand(300) === 0) {
      // Add a spare as learner, promote it, or remove it again (one change at a time).
      if (!spareAdded) {
        if (!sim.nodes.has(spare)) {
          sim.nodes.set(spare, { id: spare, raft: null, stored: { hardState: { term: 0, vote: "", commit: 0 }, snapshot: null, entries: [] }, applied: new Map(), appliedUpTo: 0 });
        }
        if (sim.changeMembers({ add: spare })) {
          spareAdded = true;
          membership = { voters: [...ids], learners: [spare] };
          sim.restart(spare, { voters: [...ids], learners: [spare] });
        }
      } else if (rand(2) === 0) sim.changeMembers({ promote: spare });
    }
    if (rand(3) === 0) sim.propose();
    if (rand(6) === 0) sim.read();
    sim.step();
  }
  // Then: no faults for a while; the cluster must elect a leader and commit a new entry everywhere.
  sim.heal();
  for (const id of sim.nodes.keys()) sim.restart(id, membership);
  for (let t = 0; t < 400; t++) sim.step();
  const before = sim.acked.length;
  for (let t = 0; t < 200; t++) {
    if (t % 5 === 0) sim.propose();
    sim.step();
  }
  sim.checkReads();
  if (process.env.RAFT_DEBUG) for (const n of sim.nodes.values()) console.log(n.id, JSON.stringify([...((n.raft as any)?.progress ?? new Map())]), n.raft?.role, "term", n.raft?.term, "leader", n.raft?.leader, "commit", n.raft?.commit, "last", n.raft?.lastIndex(), "applied", n.appliedUpTo, "members", JSON.stringify(n.raft?.membership));
  return { violations: sim.violations, acked: sim.acked.length, reads: sim.reads.length, liveAtEnd: sim.acked.length > before };
}

/** Seeds per test in `npm test`; RAFT_SIM_SEEDS=1000 for a long run. */
const SEEDS = Number(process.env.RAFT_SIM_SEEDS ?? 80);

describe("raft simulation", () => {
  test(`3 nodes, ${SEEDS} seeds × 2,000 ticks of partitions, loss, duplicates, crashes, snapshots: safe, and live after`, () => {
    let acked = 0;
    let reads = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = runSeed(seed, 3, 2_000, false);
      if (r.violations.length > 0 || !r.liveAtEnd) throw new Error(`seed ${seed}: ${r.liveAtEnd ? "" : "no progress after healing; "}${r.violations.slice(0, 3).join("; ")}`);
      acked += r.acked;
      reads += r.reads;
    }
    console.log(`3 nodes: ${acked} writes acknowledged, ${reads} linearizable reads checked over ${SEEDS} seeds`);
    expect(acked).toBeGreaterThan(SEEDS * 300);
  }, 120_000);

  test("5 nodes with a learner added and promoted mid-run: safe, and live after", () => {
    for (let seed = 1_000; seed < 1_000 + Math.ceil(SEEDS / 3); seed++) {
      const r = runSeed(seed, 5, 2_000, true);
      if (r.violations.length > 0 || !r.liveAtEnd) throw new Error(`seed ${seed}: ${r.liveAtEnd ? "" : "no progress after healing; "}${r.violations.slice(0, 3).join("; ")}`);
    }
  }, 120_000);
});
