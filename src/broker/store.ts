// The shared-state part of the broker: the subset of Redis the seeds used. Keys hold a value, a
// list or a set; using one as another is WRONG_TYPE, as in Redis. Keys may expire (set with
// ttlMs); expiry is checked on access and swept once a second.

import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { decode, Raw } from "../wire/msgpack.ts";
import { approximateBytes as sizeOf } from "./message.ts";
import { Deque } from "./deque.ts";

type Member = string | number;

type Entry =
  | { kind: "value"; value: unknown; bytes: number; expiresAtMs: number }
  | { kind: "list"; list: Deque<unknown>; bytes: number; expiresAtMs: number }
  | { kind: "set"; set: Set<Member>; bytes: number; expiresAtMs: number };

export interface Waiter {
  keys: string[];
  /** Whether a reply carrying this element fits what the waiter's connection accepts. */
  fits(key: string, value: unknown): boolean;
  /** Hand over a popped value; returns false if the waiter is gone (its connection closed). */
  deliver(key: string, value: unknown): boolean;
  /** The element at the head cannot be handed to this waiter: it gets this error and stops waiting. */
  refuse(error: PeerError): void;
}

export interface StoreAccounting {
  /** Reserve bytes; throws LIMIT_EXCEEDED if the broker is full. */
  reserve(bytes: number): void;
  release(bytes: number): void;
}

export class Store {
  private readonly entries = new Map<string, Entry>();
  private readonly expiring = new Set<string>();
  private readonly waiters = new Map<string, Deque<Waiter>>();
  private blocked = 0;
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly accounting: StoreAccounting) {
    this.sweeper = setInterval(() => this.sweep(), limits.storeSweepEveryMs);
    this.sweeper.unref?.();
  }

  get size(): number {
    return this.entries.size;
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  // ---- values --------------------------------------------------------------------------------

  get(key: string): unknown {
    const entry = this.lookup(key, "value");
    return entry === undefined ? null : entry.value;
  }

  set(key: string, value: unknown, ttlMs: number): void {
    const bytes = sizeOf(value) + key.length;
    if (this.live(key) === undefined) this.checkKeyRoom();
    this.accounting.reserve(bytes);
    this.delete(key);
    this.entries.set(key, { kind: "value", value, bytes, expiresAtMs: ttlMs > 0 ? Date.now() + ttlMs : 0 });
    if (ttlMs > 0) this.expiring.add(key);
  }

  del(keys: readonly string[]): number {
    let count = 0;
    for (const key of keys) if (this.live(key) !== undefined && this.delete(key)) count++;
    return count;
  }

  incr(key: string, by: number): number {
    const entry = this.lookup(key, "value");
    let current = 0;
    if (entry !== undefined) {
      const v = entry.value instanceof Raw ? decodeStored(entry.value) : entry.value;
      current = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(current)) throw new PeerError("BAD_ARGUMENT", `value at "${key}" is not an integer`);
    }
    const next = current + by;
    if (!Number.isSafeInteger(next)) throw new PeerError("BAD_ARGUMENT", `incr would overflow the safe integer range`);
    if (entry === undefined) this.set(key, next, 0);
    else entry.value = next;
    return next;
  }

  // ---- lists ---------------------------------------------------------------------------------

  push(key: string, values: readonly unknown[], front: boolean): number {
    let entry = this.lookup(key, "list");
    if (entry === undefined) this.checkKeyRoom();
    const bytes = values.reduce((n: number, v) => n + sizeOf(v), 0);
    this.accounting.reserve(bytes);
    if (entry === undefined) {
      entry = { kind: "list", list: new Deque(), bytes: key.length, expiresAtMs: 0 };
      this.entries.set(key, entry);
    }
    if (entry.list.length + values.length > limits.collectionLengthMax) {
      this.accounting.release(bytes);
      throw new PeerError("LIMIT_EXCEEDED", `list "${key}" would pass ${limits.collectionLengthMax} elements`);
    }
    entry.bytes += bytes;
    for (const v of values) front ? entry.list.pushFront(v) : entry.list.pushBack(v);
    const length = entry.list.length;
    this.serveWaiters(key);
    return length;
  }

  /** Up to `count` elements from the head (or tail), without taking them. */
  peek(key: string, count: number, front: boolean): unknown[] {
    const entry = this.lookup(key, "list");
    if (entry === undefined) return [];
    const n = Math.min(count, entry.list.length);
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = entry.list.at(front ? i : entry.list.length - 1 - i);
    return out;
  }

  pop(key: string, count: number, front: boolean): unknown[] {
    const entry = this.lookup(key, "list");
    if (entry === undefined) return [];
    const out: unknown[] = [];
    while (out.length < count && entry.list.length > 0) out.push(front ? entry.list.popFront() : entry.list.popBack());
    const bytes = out.reduce((n: number, v) => n + sizeOf(v), 0);
    entry.bytes -= bytes;
    this.accounting.release(bytes);
    if (entry.list.length === 0) this.delete(key);
    return out;
  }

  range(key: string, start: number, stop: number): unknown[] {
    const entry = this.lookup(key, "list");
    if (entry === undefined) return [];
    const n = entry.list.length;
    const from = start < 0 ? Math.max(0, n + start) : start;
    let to = stop < 0 ? n + stop : Math.min(stop, n - 1);
    if (from > to) return [];
    if (to - from + 1 > limits.replyElementsMax) {
      throw new PeerError("REPLY_TOO_LARGE", `the range holds ${to - from + 1} elements; a reply carries at most ${limits.replyElementsMax}: ask for a smaller range`);
    }
    const out: unknown[] = [];
    for (let i = from; i <= to; i++) out.push(entry.list.at(i));
    return out;
  }

  length(key: string): number {
    return this.lookup(key, "list")?.list.length ?? 0;
  }

  /** Pop the head of the first non-empty list, or null if all are empty. REPLY_TOO_LARGE (nothing taken) if it does not fit. */
  popFirst(keys: readonly string[], fits: (key: string, value: unknown) => boolean): { key: string; value: unknown } | null {
    for (const key of keys) {
      const [value] = this.peek(key, 1, true);
      if (value === undefined) continue;
      if (!fits(key, value)) throw tooLargeForWaiter(key);
      this.pop(key, 1, true);
      return { key, value };
    }
    return null;
  }

  /** Wait for a push to any of the waiter's keys (after popFirst found them empty). */
  park(waiter: Waiter): void {
    if (this.blocked >= limits.blockedClientsMax) throw new PeerError("LIMIT_EXCEEDED", `${limits.blockedClientsMax} clients are already blocked`);
    for (const key of waiter.keys) {
      let queue = this.waiters.get(key);
      if (queue === undefined) this.waiters.set(key, (queue = new Deque()));
      queue.pushBack(waiter);
    }
    this.blocked++;
  }

  /** A waiter timed out or its connection closed. */
  unblock(waiter: Waiter): void {
    let found = false;
    for (const key of waiter.keys) {
      const queue = this.waiters.get(key);
      if (queue === undefined) continue;
      const kept = new Deque<Waiter>();
      for (const w of queue) (w === waiter ? (found = true) : kept.pushBack(w));
      if (kept.length === 0) this.waiters.delete(key);
      else this.waiters.set(key, kept);
    }
    if (found) this.blocked--;
  }

  private serveWaiters(key: string): void {
    const queue = this.waiters.get(key);
    if (queue === undefined) return;
    while (queue.length > 0 && this.length(key) > 0) {
      const waiter = queue.popFront()!;
      this.unblock(waiter);
      const [value] = this.peek(key, 1, true);
      if (!waiter.fits(key, value)) {
        waiter.refuse(tooLargeForWaiter(key));
        continue;
      }
      this.pop(key, 1, true);
      if (!waiter.deliver(key, value)) this.push(key, [value], true);
    }
  }

  // ---- sets ----------------------------------------------------------------------------------

  sadd(key: string, members: readonly Member[]): number {
    let entry = this.lookup(key, "set");
    if (entry === undefined) {
      this.checkKeyRoom();
      entry = { kind: "set", set: new Set(), bytes: key.length, expiresAtMs: 0 };
      this.entries.set(key, entry);
    }
    if (entry.set.size + members.length > limits.collectionLengthMax) throw new PeerError("LIMIT_EXCEEDED", `set "${key}" would pass ${limits.collectionLengthMax} members`);
    let added = 0;
    for (const m of members) {
      if (entry.set.has(m)) continue;
      const bytes = sizeOf(m);
      this.accounting.reserve(bytes);
      entry.bytes += bytes;
      entry.set.add(m);
      added++;
    }
    return added;
  }

  srem(key: string, members: readonly Member[]): number {
    const entry = this.lookup(key, "set");
    if (entry === undefined) return 0;
    let removed = 0;
    for (const m of members) {
      if (!entry.set.delete(m)) continue;
      const bytes = sizeOf(m);
      entry.bytes -= bytes;
      this.accounting.release(bytes);
      removed++;
    }
    if (entry.set.size === 0) this.delete(key);
    return removed;
  }

  smembers(key: string): Member[] {
    const entry = this.lookup(key, "set");
    if (entry === undefined) return [];
    if (entry.set.size > limits.replyElementsMax) {
      throw new PeerError("REPLY_TOO_LARGE", `set "${key}" has ${entry.set.size} members; a reply carries at most ${limits.replyElementsMax}: use srandmember with a count`);
    }
    return [...entry.set];
  }

  /** Up to `count` distinct random members (Redis semantics for a positive count). */
  srandmember(key: string, count: number): Member[] {
    const entry = this.lookup(key, "set");
    if (entry === undefined) return [];
    const all = [...entry.set];
    const n = Math.min(count, all.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(Math.random() * (all.length - i));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all.slice(0, n);
  }

  // ---- internals -----------------------------------------------------------------------------

  private lookup<K extends Entry["kind"]>(key: string, kind: K): Extract<Entry, { kind: K }> | undefined {
    const entry = this.live(key);
    if (entry === undefined) return undefined;
    if (entry.kind !== kind) {
      throw new PeerError("WRONG_TYPE", `key "${key}" holds a ${entry.kind}, not a ${kind}`);
    }
    return entry as Extract<Entry, { kind: K }>;
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.expiresAtMs > 0 && entry.expiresAtMs <= Date.now()) {
      this.delete(key);
      return undefined;
    }
    return entry;
  }

  private delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    this.expiring.delete(key);
    this.accounting.release(entry.bytes);
    return true;
  }

  private checkKeyRoom(): void {
    if (this.entries.size >= limits.keysMax) throw new PeerError("LIMIT_EXCEEDED", `the store holds its maximum of ${limits.keysMax} keys`);
  }

  private sweep(): void {
    const now = Date.now();
    let checked = 0;
    for (const key of this.expiring) {
      if (++checked > limits.storeSweepKeysMax) break; // bounded work per tick
      const entry = this.entries.get(key);
      if (entry === undefined || entry.expiresAtMs <= now) this.delete(key);
    }
  }
}

function tooLargeForWaiter(key: string): PeerError {
  return new PeerError("REPLY_TOO_LARGE", `the element at the head of "${key}" is larger than this connection accepts; it stays in the list`);
}

/** A stored value that incr must read: it was kept as bytes; anything it cannot read is not an integer. */
function decodeStored(raw: Raw): unknown {
  try {
    return decode(raw.bytes);
  } catch {
    return null;
  }
}
