// Gossip mode: the versioned state of one shard at one replica, and what anti-entropy needs to
// know about it. Pure: no I/O, no clock.
//
// Every update is stamped (version, replica, Lamport stamp). A version number is a slot: when two
// replicas write the same version of a key concurrently, the slot keeps the update of the lowest
// replica id (string order) and the other is dropped, the seed's rule. The newest value of a key is
// its highest slot. Since every replica applies the same rule to the same updates, replicas that
// received the same updates hold the same slots, whatever the order they came in.
//
// `known` is this replica's vector: per origin replica o, a stamp up to which it holds (or holds
// something newer than) every update o wrote. A digest sends it; the peer answers every update
// with a newer stamp than the vector says, and its own vector, which the asker may then adopt.

import type { GossipUpdate } from "../../protocols/storage.ts";

export interface Slot {
  version: number;
  replica: string;
  stamp: number;
  value: unknown;
}

export type ReadResult = { ok: true; value: unknown; version: number } | { ok: false; error: "NOT_FOUND" | "VERSION_GONE"; message: string };

export class GossipShard {
  /** key → kept slots, lowest version first; at most versionsMax. */
  private readonly keys = new Map<string, Slot[]>();
  /** Origin replica → the stamp up to which we hold all its updates (ours: the node's clock, not here). */
  readonly known = new Map<string, number>();

  constructor(
    readonly shard: number,
    readonly versionsMax: number,
  ) {}

  get size(): number {
    return this.keys.size;
  }

  newest(key: string): Slot | undefined {
    const slots = this.keys.get(key);
    return slots?.[slots.length - 1];
  }

  /** Insert an update; true when the state changed (a new slot, or a lower replica id won a slot). */
  apply(key: string, u: Slot): boolean {
    let slots = this.keys.get(key);
    if (slots === undefined) this.keys.set(key, (slots = []));
    const at = slots.findIndex((s) => s.version >= u.version);
    const current = at >= 0 ? slots[at]! : undefined;
    if (current !== undefined && current.version === u.version) {
      // The seed's order: equal version, lowest replica id wins (a replay of the same update changes nothing).
      if (current.replica < u.replica || (current.replica === u.replica && current.stamp >= u.stamp)) return false;
      slots[at] = u;
      return true;
    }
    if (slots.length >= this.versionsMax && u.version < slots[0]!.version) return false; // older than what is kept
    slots.splice(at >= 0 ? at : slots.length, 0, u);
    if (slots.length > this.versionsMax) slots.shift();
    return true;
  }

  read(key: string, version?: number): ReadResult {
    const slots = this.keys.get(key);
    if (slots === undefined || slots.length === 0) return { ok: false, error: "NOT_FOUND", message: `no key ${JSON.stringify(key)}` };
    const newest = slots[slots.length - 1]!;
    if (version === undefined) return { ok: true, value: newest.value, version: newest.version };
    const found = slots.find((s) => s.version === version);
    if (found !== undefined) return { ok: true, value: found.value, version };
    if (version >= 1 && version < slots[0]!.version && slots.length >= this.versionsMax) {
      return { ok: false, error: "VERSION_GONE", message: `version ${version} of ${JSON.stringify(key)} is no longer kept (the last ${this.versionsMax} are: ${slots[0]!.version}..${newest.version})` };
    }
    return { ok: false, error: "NOT_FOUND", message: `key ${JSON.stringify(key)} has no version ${version} here (newest ${newest.version})` };
  }

  /** Every kept update, for a snapshot or a dump. */
  all(): GossipUpdate[] {
    const out: GossipUpdate[] = [];
    for (const [key, slots] of this.keys) for (const s of slots) out.push([key, s.version, s.replica, s.stamp, s.value]);
    return out;
  }

  /**
   * What a peer whose vector is `theirs` lacks: the updates with newer stamps than it holds from
   * their origin, oldest stamps first, at most countMax and about bytesMax of values; and the vector
   * it may adopt once it applied them (`mine`, lowered below the first update left out per origin).
   */
  missing(theirs: Record<string, number>, mine: Record<string, number>, countMax: number, bytesMax: number, sizeOf: (v: unknown) => number): { updates: GossipUpdate[]; known: Record<string, number> } {
    const candidates: GossipUpdate[] = [];
    for (const [key, slots] of this.keys) for (const s of slots) if (s.stamp > (theirs[s.replica] ?? 0)) candidates.push([key, s.version, s.replica, s.stamp, s.value]);
    candidates.sort((a, b) => a[3] - b[3]);
    const known = { ...mine };
    const updates: GossipUpdate[] = [];
    let bytes = 0;
    for (const u of candidates) {
      const fits = updates.length < countMax && (updates.length === 0 || bytes + sizeOf(u[4]) <= bytesMax);
      if (fits) {
        updates.push(u);
        bytes += sizeOf(u[4]);
      } else known[u[2]] = Math.min(known[u[2]] ?? 0, u[3] - 1);
    }
    return { updates, known };
  }
}
