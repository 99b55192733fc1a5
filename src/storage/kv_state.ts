// The versioned key-value state of one shard: per key a version number (1 for the first write,
// +1 for every change) and the values of its last versionsMax versions. Commands are applied in
// log order (linearizable mode) or in timestamp order (gossip mode), so every replica that applied
// the same commands holds the same state. Pure: no I/O, no clock.

export type KvCommand =
  | { op: "write"; key: string; value: unknown }
  | { op: "updateIf"; key: string; newValue: unknown; expected: unknown }
  | { op: "cas"; key: string; newValue: unknown; version: number };

export type KvResult = { version: number } | { applied: boolean; version: number };

export type ReadResult = { ok: true; value: unknown; version: number } | { ok: false; error: "NOT_FOUND" | "VERSION_GONE"; message: string };

interface Versions {
  /** The newest version number. */
  version: number;
  /** The kept versions, oldest first: [version, value]. */
  kept: Array<[number, unknown]>;
}

export class KvState {
  private readonly keys = new Map<string, Versions>();

  constructor(readonly versionsMax: number) {}

  get size(): number {
    return this.keys.size;
  }

  apply(command: KvCommand): KvResult {
    const current = this.keys.get(command.key);
    switch (command.op) {
      case "write":
        return { version: this.put(command.key, current, command.value) };
      case "updateIf": {
        const value = current?.kept[current.kept.length - 1]?.[1];
        if (current === undefined || !sameValue(value, command.expected)) return { applied: false, version: current?.version ?? 0 };
        return { applied: true, version: this.put(command.key, current, command.newValue) };
      }
      case "cas": {
        if ((current?.version ?? 0) !== command.version) return { applied: false, version: current?.version ?? 0 };
        return { applied: true, version: this.put(command.key, current, command.newValue) };
      }
    }
  }

  private put(key: string, current: Versions | undefined, value: unknown): number {
    const entry = current ?? { version: 0, kept: [] };
    entry.version++;
    entry.kept.push([entry.version, value]);
    if (entry.kept.length > this.versionsMax) entry.kept.shift();
    if (current === undefined) this.keys.set(key, entry);
    return entry.version;
  }

  read(key: string, version?: number): ReadResult {
    const entry = this.keys.get(key);
    if (entry === undefined) return { ok: false, error: "NOT_FOUND", message: `no key ${JSON.stringify(key)}` };
    if (version === undefined) {
      const [v, value] = entry.kept[entry.kept.length - 1]!;
      return { ok: true, value, version: v };
    }
    if (version > entry.version || version < 1) return { ok: false, error: "NOT_FOUND", message: `key ${JSON.stringify(key)} has no version ${version} (newest ${entry.version})` };
    const found = entry.kept.find(([v]) => v === version);
    if (found === undefined) return { ok: false, error: "VERSION_GONE", message: `version ${version} of ${JSON.stringify(key)} is no longer kept (the last ${this.versionsMax} are: ${entry.kept[0]![0]}..${entry.version})` };
    return { ok: true, value: found[1], version };
  }

  /** The whole state, for a snapshot: [key, version, kept][]. */
  snapshot(): Array<[string, number, Array<[number, unknown]>]> {
    return [...this.keys].map(([key, v]) => [key, v.version, v.kept.map(([n, value]) => [n, value] as [number, unknown])]);
  }

  restore(data: Array<[string, number, Array<[number, unknown]>]>): void {
    this.keys.clear();
    for (const [key, version, kept] of data) this.keys.set(key, { version, kept: kept.map(([n, value]) => [n, value]) });
  }

  /** Every key with its newest version (gossip anti-entropy compares these). */
  versions(): Map<string, number> {
    return new Map([...this.keys].map(([key, v]) => [key, v.version]));
  }
}

/** Deep equality of msgpack values: primitives, binaries, arrays, maps (key order ignored). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return typeof a === "number" && Number.isNaN(a) && Number.isNaN(b as number);
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameValue(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b as object, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
