// Histories for testing the linearizability checker: a reference store written as plainly as
// possible (independent of the checker's model code), random concurrent histories that are
// linearizable by construction (every op gets an interval around the moment the reference store
// ran it), corruptions that make a history impossible, and a brute-force checker for tiny ones.

import fc from "fast-check";
import type { Operation, Outcome } from "./linearizability.ts";

/** Spacing of consecutive linearization points: room for calls and returns between them. */
const LIN_SPACING_MS = 10;
/** How far past its linearization point the last op of a client may return, in spacings. */
const LAST_RETURN_SPACINGS = 3;
/** Op mix, cumulative percent (reads, reads by version, writes, updateIfValueIs, the rest cas): mostly reads and writes, as in a real workload, with every conditional op often. */
const READ_PCT = 30;
const READ_AT_PCT = READ_PCT + 15;
const WRITE_PCT = READ_AT_PCT + 25;
const UPDATE_PCT = WRITE_PCT + 15;
/** Reads by version reach back this many versions past the oldest one kept, so VERSION_GONE happens. */
const READ_AT_PAST_KEPT = 2;
/** Default outcomes, percent: about 10 % indefinite (some took effect, some not), a few refused. */
const INFO_APPLIED_PCT_DEFAULT = 6;
const INFO_LOST_PCT_DEFAULT = 4;
const REFUSED_PCT_DEFAULT = 3;

// ---------------------------------------------------------------------------------------------
// Reference store

type Input = Operation["input"];
type OpName = Operation["op"];

export class ReferenceStore {
  private keys = new Map<string, { version: number; values: Map<number, unknown> }>();

  constructor(readonly versionsMax: number) {}

  clone(): ReferenceStore {
    const copy = new ReferenceStore(this.versionsMax);
    for (const [key, k] of this.keys) copy.keys.set(key, { version: k.version, values: new Map(k.values) });
    return copy;
  }

  version(key: string): number {
    return this.keys.get(key)?.version ?? 0;
  }

  current(key: string): unknown {
    const k = this.keys.get(key);
    return k === undefined ? undefined : k.values.get(k.version);
  }

  run(op: OpName, key: string, input: Input): Outcome {
    const k = this.keys.get(key);
    const version = k?.version ?? 0;
    const put = (value: unknown) => {
      const entry = k ?? { version: 0, values: new Map<number, unknown>() };
      entry.version += 1;
      entry.values.set(entry.version, value);
      entry.values.delete(entry.version - this.versionsMax); // keep the newest versionsMax, the current one included
      this.keys.set(key, entry);
      return entry.version;
    };
    switch (op) {
      case "read": {
        if (k === undefined) return { kind: "fail", error: "NOT_FOUND" };
        const wanted = input.version ?? version;
        if (wanted > version) return { kind: "fail", error: "NOT_FOUND" };
        if (!k.values.has(wanted)) return { kind: "fail", error: "VERSION_GONE" };
        return { kind: "ok", result: { value: k.values.get(wanted), version: wanted } };
      }
      case "write":
        return { kind: "ok", result: { version: put(input.value) } };
      case "updateIfValueIs": {
        const applied = k !== undefined && Bun.deepEquals(k.values.get(version), input.expected);
        return { kind: "ok", result: { applied, version: applied ? put(input.newValue) : version } };
      }
      case "cas": {
        const applied = version === input.version;
        return { kind: "ok", result: { applied, version: applied ? put(input.newValue) : version } };
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Random linearizable histories

/** One op's random choices; what they mean depends on the store's state when it runs. */
export interface Choice {
  client: number;
  key: number;
  kind: number; // 0..99, split into op kinds by weight
  pick: number; // chooses values and versions
  coin: boolean; // "aim at the current state" (expected value, cas version)
  fate: number; // 0..99: ok, indefinite (applied or lost), or refused
  back: number; // 0..1000: where the call sits between the client's last return and the op's linearization point
  fwd: number; // 0..1000: where the return sits between the linearization point and the client's next one
}

export interface Shape {
  clients: number;
  keys: number;
  versionsMax: number;
  /** Percent of ops that time out after taking effect, time out without taking effect, and are refused (UNAVAILABLE). */
  infoAppliedPct?: number;
  infoLostPct?: number;
  refusedPct?: number;
}

export interface Generated {
  history: Operation[];
  versionsMax: number;
}

// Unbiased where fast-check's bias toward small numbers would skew the mix (most ops indefinite,
// most from client 0); picks keep the bias, which favours small versions and the first values.
export const choiceArb: fc.Arbitrary<Choice> = fc.record({
  client: fc.noBias(fc.nat(1000)),
  key: fc.noBias(fc.nat(1000)),
  kind: fc.noBias(fc.nat(99)),
  pick: fc.nat(1000),
  coin: fc.boolean(),
  fate: fc.noBias(fc.nat(99)),
  back: fc.noBias(fc.nat(1000)),
  fwd: fc.noBias(fc.nat(1000)),
});

/** Values with collisions (so updateIfValueIs sometimes matches), two deep-equal objects with their keys in different orders, and null. */
const POOL: readonly unknown[] = ["a", "b", 1, null, [1, "a"], { x: 1, y: [2] }, { y: [2], x: 1 }];

function valueFor(pick: number, index: number): unknown {
  const at = pick % (POOL.length + 1);
  return at < POOL.length ? POOL[at] : { unique: index }; // sometimes a value nobody else writes
}

export function buildHistory(shape: Shape, choices: readonly Choice[]): Generated {
  const { clients, keys, versionsMax } = shape;
  const applied = shape.infoAppliedPct ?? INFO_APPLIED_PCT_DEFAULT;
  const lost = shape.infoLostPct ?? INFO_LOST_PCT_DEFAULT;
  const refused = shape.refusedPct ?? REFUSED_PCT_DEFAULT;
  const store = new ReferenceStore(versionsMax);
  type Planned = { op: Operation; linMs: number; indefinite: boolean };
  const planned: Planned[] = choices.map((c, index) => {
    const key = `k${c.key % keys}`;
    const version = store.version(key);
    let op: OpName;
    let input: Input;
    if (c.kind < READ_PCT) [op, input] = ["read", {}];
    else if (c.kind < READ_AT_PCT) [op, input] = ["read", { version: Math.max(1, version + 1 - (c.pick % (versionsMax + 1 + READ_AT_PAST_KEPT))) }];
    else if (c.kind < WRITE_PCT) [op, input] = ["write", { value: valueFor(c.pick, index) }];
    else if (c.kind < UPDATE_PCT) {
      const expected = c.coin && version > 0 ? store.current(key) : valueFor(c.pick >> 3, index); // other bits of pick than newValue's
      [op, input] = ["updateIfValueIs", { newValue: valueFor(c.pick, index), expected }];
    } else [op, input] = ["cas", { newValue: valueFor(c.pick, index), version: c.coin ? version : c.pick % (version + 2) }];
    let outcome: Outcome;
    if (c.fate < refused) outcome = { kind: "fail", error: "UNAVAILABLE" };
    else if (c.fate < refused + lost) outcome = { kind: "info" };
    else {
      outcome = store.run(op, key, input);
      if (c.fate < refused + lost + applied) outcome = { kind: "info" };
    }
    const linMs = (index + 1) * LIN_SPACING_MS;
    return { op: { client: c.client % clients, key, op, input, callMs: 0, returnMs: 0, outcome }, linMs, indefinite: outcome.kind === "info" };
  });
  // Times: each op's interval contains its linearization point, and a client's ops do not overlap.
  // An indefinite op's give-up time may come before its linearization point: it took effect late.
  const nextLinMs = new Array<number>(planned.length);
  const laterLinMs = new Map<number, number>(); // client → linearization point of its next op
  for (let index = planned.length - 1; index >= 0; index--) {
    const p = planned[index]!;
    nextLinMs[index] = laterLinMs.get(p.op.client) ?? p.linMs + LAST_RETURN_SPACINGS * LIN_SPACING_MS;
    laterLinMs.set(p.op.client, p.linMs);
  }
  const freeMs = new Array<number>(clients).fill(0);
  planned.forEach((p, index) => {
    const c = choices[index]!;
    const client = p.op.client;
    const limitMs = nextLinMs[index]!;
    const from = freeMs[client]!;
    p.op.callMs = from + (c.back / 1000) * (p.linMs - from);
    const returnFrom = p.indefinite ? p.op.callMs : p.linMs;
    p.op.returnMs = returnFrom + (c.fwd / 1000) * (limitMs - returnFrom);
    freeMs[client] = p.op.returnMs;
  });
  return { history: planned.map((p) => p.op).sort((a, b) => a.callMs - b.callMs), versionsMax };
}

export function historyArb(limits: { opsMax: number; clientsMax: number; keysMax: number; versionsMaxMax: number; opsMin?: number }): fc.Arbitrary<Generated> {
  return fc
    .record({
      clients: fc.integer({ min: 2, max: limits.clientsMax }),
      keys: fc.integer({ min: 1, max: limits.keysMax }),
      versionsMax: fc.integer({ min: 1, max: limits.versionsMaxMax }),
      choices: fc.array(choiceArb, { minLength: limits.opsMin ?? 1, maxLength: limits.opsMax, size: "max" }), // "max": lengths up to opsMax, not fast-check's small default
    })
    .map(({ choices, ...shape }) => buildHistory(shape, choices));
}

// ---------------------------------------------------------------------------------------------
// Corruptions that no linearization can explain

export type Corruption = "phantomValue" | "staleVersion" | "notFoundAfterWrite" | "wrongValueAtVersion";
export const CORRUPTIONS: readonly Corruption[] = ["phantomValue", "staleVersion", "notFoundAfterWrite", "wrongValueAtVersion"];

type Versioned = { value?: unknown; version: number; applied?: boolean };
const resultOf = (o: Operation) => (o.outcome as { result: Versioned }).result;

/**
 * One read's result changed so that no linearization explains it: a value nobody wrote; a
 * version older than one some op had already returned before the read was called; NOT_FOUND
 * although an op had already returned a version; at a version that a definite op is known to
 * have written, another value (one written elsewhere in the history, so only the search can
 * tell). Null if the history has no read to corrupt that way.
 */
export function corrupt(history: Operation[], how: Corruption, pick: number): Operation[] | null {
  const oks = history.filter((o) => o.outcome.kind === "ok");
  const seenBefore = (read: Operation) => Math.max(0, ...oks.filter((o) => o.key === read.key && o.returnMs < read.callMs).map((o) => resultOf(o).version));
  const writtenAt = (read: Operation) => {
    const version = resultOf(read).version;
    const writer = oks.find((o) => o.key === read.key && o.op !== "read" && (o.op === "write" || resultOf(o).applied) && resultOf(o).version === version);
    return writer === undefined ? undefined : writer.op === "write" ? writer.input.value : writer.input.newValue;
  };
  const written = history.filter((o) => o.op !== "read").map((o) => (o.op === "write" ? o.input.value : o.input.newValue));
  const otherValue = (read: Operation) => written.find((v) => !Bun.deepEquals(v, resultOf(read).value) && v !== undefined);
  const candidates = history
    .map((o, i) => ({ o, i }))
    .filter(({ o }) => o.op === "read" && o.outcome.kind === "ok")
    .filter(({ o }) => {
      if (how === "phantomValue") return true;
      if (how === "wrongValueAtVersion") return writtenAt(o) !== undefined && otherValue(o) !== undefined;
      return o.input.version === undefined && seenBefore(o) >= (how === "staleVersion" ? 2 : 1);
    });
  if (candidates.length === 0) return null;
  const { o, i } = candidates[pick % candidates.length]!;
  const result = resultOf(o);
  let outcome: Outcome;
  if (how === "phantomValue") outcome = { kind: "ok", result: { ...result, value: { phantom: pick } } };
  else if (how === "staleVersion") outcome = { kind: "ok", result: { ...result, version: 1 + (pick % (seenBefore(o) - 1)) } };
  else if (how === "notFoundAfterWrite") outcome = { kind: "fail", error: "NOT_FOUND" };
  else outcome = { kind: "ok", result: { ...result, value: otherValue(o) } };
  return history.map((op, j) => (j === i ? { ...op, outcome } : op));
}

// ---------------------------------------------------------------------------------------------
// Random mutations: the history may or may not stay linearizable (the brute force decides)

export interface Mutation {
  index: number;
  how: number; // 0..6, see mutate
  amount: number; // 0..1000
}

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({ index: fc.nat(100), how: fc.nat(6), amount: fc.nat(1000) });

/** A history with one op changed, still well-formed: its version shifted, its read value or applied flag changed, made indefinite, a read turned NOT_FOUND, or its interval narrowed (so real time orders more). */
export function mutate(history: Operation[], m: Mutation): Operation[] {
  if (history.length === 0) return history;
  const i = m.index % history.length;
  const o = history[i]!;
  const result = o.outcome.kind === "ok" ? resultOf(o) : undefined;
  const shift = (m.amount % 5) - 2;
  let changed: Operation = o;
  switch (m.how) {
    case 1:
      if (result !== undefined) changed = { ...o, outcome: { kind: "ok", result: { ...result, version: Math.max(result.applied === false ? 0 : 1, result.version + shift) } } };
      break;
    case 2:
      if (result !== undefined && o.op === "read") changed = { ...o, outcome: { kind: "ok", result: { ...result, value: POOL[m.amount % POOL.length] } } };
      break;
    case 3:
      if (result !== undefined && result.applied !== undefined) changed = { ...o, outcome: { kind: "ok", result: { applied: !result.applied, version: Math.max(1, result.version) } } };
      break;
    case 4:
      changed = { ...o, outcome: { kind: "info" } };
      break;
    case 5:
      if (o.op === "read") changed = { ...o, outcome: o.outcome.kind === "ok" ? { kind: "fail", error: "NOT_FOUND" } : { kind: "fail", error: "VERSION_GONE" } };
      break;
    case 6: {
      const spanMs = o.returnMs - o.callMs;
      const cut = (m.amount / 1000) * spanMs;
      changed = m.amount % 2 === 0 ? { ...o, callMs: o.callMs + cut } : { ...o, returnMs: o.returnMs - cut }; // narrower: a client's ops still do not overlap
      break;
    }
  }
  return history.map((op, j) => (j === i ? changed : op));
}

// ---------------------------------------------------------------------------------------------
// Brute force, for tiny histories: every order consistent with real time, all keys at once

export function bruteForceLinearizable(history: Operation[], versionsMax: number): boolean {
  const ops = history.filter((o) => {
    if (o.outcome.kind === "fail") return o.op === "read" && (o.outcome.error === "NOT_FOUND" || o.outcome.error === "VERSION_GONE");
    return !(o.outcome.kind === "info" && o.op === "read");
  });
  const done = ops.map(() => false);
  const definite = (o: Operation) => o.outcome.kind !== "info";
  const search = (store: ReferenceStore): boolean => {
    if (ops.every((o, i) => done[i] || !definite(o))) return true; // leftover indefinite ops never happened
    return ops.some((o, i) => {
      if (done[i] || ops.some((p, j) => !done[j] && definite(p) && p.returnMs < o.callMs)) return false;
      const after = store.clone();
      const got = after.run(o.op, o.key, o.input);
      if (definite(o) && !Bun.deepEquals(got, o.outcome)) return false;
      done[i] = true;
      const found = search(after);
      done[i] = false;
      return found;
    });
  };
  return search(new ReferenceStore(versionsMax));
}
