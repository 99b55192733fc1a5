// Goal: the linearizability checker accepts exactly the histories of the versioned key-value
// store that some real-time-respecting order explains, says so fast enough for long histories,
// and never claims "ok" without proof. Method: hand-written histories for each rule of the model;
// random histories built around a run of an independent reference store (must pass), the same
// with one read corrupted (must fail), tiny random mutants decided by brute force (must agree);
// timings of long and many-key histories.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { CORRUPTIONS, buildHistory, bruteForceLinearizable, choiceArb, corrupt, historyArb, mutate, mutationArb } from "./histories.ts";
import { checkHistory, formatOps, formatVerdict, type Operation, type Outcome, type Verdict } from "./linearizability.ts";

// ---------------------------------------------------------------------------------------------
// Shorthands for hand-written histories: [callMs, returnMs] spans, key "k" unless given.

type Span = [number, number];
const ok = (result: unknown): Outcome => ({ kind: "ok", result });
const fail = (error: string): Outcome => ({ kind: "fail", error });
const info: Outcome = { kind: "info" };

function op(client: number, [callMs, returnMs]: Span, name: Operation["op"], input: Operation["input"], outcome: Outcome, key = "k"): Operation {
  return { client, key, op: name, input, callMs, returnMs, outcome };
}
const write = (client: number, span: Span, value: unknown, version: number, key?: string) => op(client, span, "write", { value }, ok({ version }), key);
const read = (client: number, span: Span, value: unknown, version: number, key?: string) => op(client, span, "read", {}, ok({ value, version }), key);
const readAt = (client: number, span: Span, version: number, outcome: Outcome) => op(client, span, "read", { version }, outcome);
const update = (client: number, span: Span, expected: unknown, newValue: unknown, applied: boolean, version: number) =>
  op(client, span, "updateIfValueIs", { expected, newValue }, ok({ applied, version }));
const cas = (client: number, span: Span, version: number, newValue: unknown, applied: boolean, resultVersion: number) =>
  op(client, span, "cas", { version, newValue }, ok({ applied, version: resultVersion }));

/** The verdict's ok, with the whole verdict printed when it is not the expected one. */
function verdictOf(history: Operation[], expected: boolean | "unknown", options?: Parameters<typeof checkHistory>[1]): Verdict {
  const verdict = checkHistory(history, options);
  if (verdict.ok !== expected) console.error(`expected ok: ${expected}, got:\n${formatVerdict(verdict)}\nhistory:\n${formatOps(history)}`);
  expect(verdict.ok).toBe(expected);
  return verdict;
}

describe("hand-written histories", () => {
  test("a sequential history of every kind of op is linearizable", () => {
    const verdict = verdictOf(
      [
        op(1, [0, 1], "read", {}, fail("NOT_FOUND")),
        write(1, [2, 3], "a", 1),
        read(2, [4, 5], "a", 1),
        update(1, [6, 7], "a", "b", true, 2),
        update(2, [8, 9], "a", "c", false, 2),
        cas(1, [10, 11], 2, "d", true, 3),
        cas(2, [12, 13], 2, "e", false, 3),
        readAt(1, [14, 15], 1, ok({ value: "a", version: 1 })),
        read(2, [16, 17], "d", 3),
      ],
      true,
    );
    expect(verdict).toEqual({ ok: true, keys: 1, ops: 9 });
  });

  test("a read that misses a write completed before it was called fails, and the window shows both", () => {
    const stale = read(3, [4, 5], "a", 1);
    const verdict = verdictOf([write(1, [0, 1], "a", 1), write(2, [2, 3], "b", 2), stale], false);
    if (verdict.ok !== false) return;
    expect(verdict.key).toBe("k");
    expect(verdict.ops).toContain(stale);
    expect(verdict.ops.some((o) => o.op === "write" && o.input.value === "b")).toBe(true);
    expect(verdict.why).toContain('read {} → ok {"value":"a","version":1}');
    expect(formatVerdict(verdict)).toContain("not linearizable");
  });

  test("a read concurrent with that write may see either value", () => {
    verdictOf([write(1, [0, 1], "a", 1), write(2, [2, 10], "b", 2), read(3, [3, 4], "a", 1)], true);
    verdictOf([write(1, [0, 1], "a", 1), write(2, [2, 10], "b", 2), read(3, [3, 4], "b", 2)], true);
  });

  test("concurrent writes take effect in either order, and reads agree with the order their versions tell", () => {
    const a = (version: number) => write(1, [0, 10], "a", version);
    const b = (version: number) => write(2, [0, 10], "b", version);
    verdictOf([a(1), b(2), read(3, [2, 3], "a", 1), read(3, [11, 12], "b", 2)], true);
    verdictOf([a(2), b(1), read(3, [2, 3], "b", 1), read(3, [11, 12], "a", 2)], true);
    verdictOf([a(1), b(2), read(3, [11, 12], "a", 2)], false); // version 2 is b's
    verdictOf([a(1), b(2), read(3, [2, 3], "b", 2), read(4, [4, 5], "a", 1)], false); // reads went back in time
    verdictOf([a(1), b(1)], false); // both cannot be first
  });

  test("an op called at the instant another returned counts as concurrent with it", () => {
    verdictOf([write(1, [0, 5], "a", 1), op(2, [5, 6], "read", {}, fail("NOT_FOUND"))], true);
    verdictOf([write(1, [0, 5], "a", 1), op(2, [5.001, 6], "read", {}, fail("NOT_FOUND"))], false);
    verdictOf([read(2, [0, 5], "x", 1), op(1, [5, 6], "write", { value: "x" }, info)], true);
  });

  test("a read of a value never written fails", () => {
    verdictOf([write(1, [0, 1], "a", 1), read(2, [0, 5], "z", 1)], false);
  });

  test("two updateIfValueIs applied from the same expected value fail; chained ones pass", () => {
    const base = write(1, [0, 1], "a", 1);
    verdictOf([base, update(2, [2, 10], "a", "b", true, 2), update(3, [2, 10], "a", "c", true, 3)], false);
    verdictOf([base, update(2, [2, 10], "a", "b", true, 2), update(3, [2, 10], "b", "c", true, 3)], true);
    verdictOf([base, update(2, [2, 10], "a", "b", true, 2), update(3, [2, 10], "a", "c", false, 2)], true); // lost the race
    verdictOf([op(1, [0, 1], "updateIfValueIs", { expected: null, newValue: "x" }, ok({ applied: false, version: 0 }))], true); // a never-written key has no value, not even null
    verdictOf([op(1, [0, 1], "updateIfValueIs", { expected: null, newValue: "x" }, ok({ applied: true, version: 1 }))], false);
  });

  test("cas applies iff the version matches, 0 for a never-written key", () => {
    verdictOf([cas(1, [0, 1], 0, "a", true, 1), cas(2, [2, 3], 0, "b", false, 1), read(1, [4, 5], "a", 1)], true);
    verdictOf([cas(1, [0, 1], 1, "a", true, 2)], false); // nothing at version 1 yet
    const base = write(1, [0, 1], "a", 1);
    verdictOf([base, cas(2, [2, 10], 1, "b", true, 2), cas(3, [2, 10], 1, "c", true, 2)], false); // two winners
    verdictOf([base, cas(2, [2, 10], 1, "b", true, 2), cas(3, [2, 10], 1, "c", false, 2), read(2, [11, 12], "b", 2)], true);
    verdictOf([base, cas(2, [2, 3], 1, "b", false, 1)], false); // a matching version must apply
  });

  test("read by version, and VERSION_GONE exactly past the newest versionsMax versions", () => {
    const versionsMax = 3;
    const writes = [1, 2, 3, 4, 5].map((v) => write(1, [10 * v, 10 * v + 1], `v${v}`, v));
    const after = (outcome: Outcome, version: number) => [...writes, readAt(2, [100, 101], version, outcome)];
    verdictOf(after(ok({ value: "v3", version: 3 }), 3), true, { versionsMax }); // kept: 3, 4, 5
    verdictOf(after(fail("VERSION_GONE"), 2), true, { versionsMax });
    verdictOf(after(fail("NOT_FOUND"), 6), true, { versionsMax });
    verdictOf(after(fail("VERSION_GONE"), 3), false, { versionsMax });
    verdictOf(after(ok({ value: "v2", version: 2 }), 2), false, { versionsMax });
    verdictOf(after(ok({ value: "v4", version: 3 }), 3), false, { versionsMax }); // the wrong version's value
    verdictOf(after(fail("NOT_FOUND"), 5), false, { versionsMax });
    verdictOf(after(ok({ value: "v3", version: 4 }), 3), false, { versionsMax }); // not the version asked for
    // The default keeps 10: after 11 writes version 2 is the oldest left.
    const eleven = Array.from({ length: 11 }, (_, i) => write(1, [10 * i, 10 * i + 1], i + 1, i + 1));
    verdictOf([...eleven, readAt(2, [200, 201], 2, ok({ value: 2, version: 2 }))], true);
    verdictOf([...eleven, readAt(2, [200, 201], 1, fail("VERSION_GONE"))], true);
    verdictOf([...eleven, readAt(2, [200, 201], 1, ok({ value: 1, version: 1 }))], false);
    // A read concurrent with all the writes may take effect after the last: version 2 already gone.
    verdictOf([...writes, readAt(2, [0, 100], 2, fail("VERSION_GONE"))], true, { versionsMax });
  });

  test("NOT_FOUND: fine before or during the first write, not after it", () => {
    verdictOf([op(1, [0, 1], "read", {}, fail("NOT_FOUND"))], true);
    verdictOf([write(1, [0, 10], "a", 1), op(2, [2, 3], "read", {}, fail("NOT_FOUND"))], true);
    verdictOf([write(1, [0, 1], "a", 1), op(2, [2, 3], "read", {}, fail("NOT_FOUND"))], false);
    verdictOf([write(1, [0, 10], "a", 1), read(2, [2, 3], "a", 1), op(3, [4, 5], "read", {}, fail("NOT_FOUND"))], false); // seen, then unseen
  });

  test("indefinite writes may show up later, even after the client gave up, or never", () => {
    const lost = op(1, [0, 5], "write", { value: "x" }, info);
    verdictOf([lost, read(2, [10, 11], "x", 1)], true);
    verdictOf([lost, read(2, [3, 4], "x", 1)], true);
    verdictOf([lost, op(2, [10, 11], "read", {}, fail("NOT_FOUND")), read(2, [20, 21], "x", 1)], true); // took effect late
    verdictOf([lost, op(2, [10, 11], "read", {}, fail("NOT_FOUND"))], true);
    verdictOf([lost, write(2, [10, 11], "y", 1), read(2, [12, 13], "y", 1)], true);
    verdictOf([lost, write(2, [10, 11], "y", 2), readAt(2, [12, 13], 1, ok({ value: "x", version: 1 }))], true); // version 2 proves it
    verdictOf([lost, read(2, [10, 11], "x", 1), op(3, [12, 13], "read", {}, fail("NOT_FOUND"))], false); // seen, then unseen
    verdictOf([lost, read(2, [10, 11], "x", 1), read(3, [12, 13], "x", 2)], false); // it happens once
  });

  test("an indefinite write seen by a read that completed before the write was called fails", () => {
    verdictOf([read(2, [0, 5], "x", 1), op(1, [10, 12], "write", { value: "x" }, info)], false);
  });

  test("indefinite cas and updateIfValueIs take effect only if their condition held then", () => {
    const base = write(1, [0, 1], "a", 1);
    verdictOf([base, op(2, [2, 3], "cas", { version: 1, newValue: "b" }, info), read(3, [10, 11], "b", 2)], true);
    verdictOf([base, op(2, [2, 3], "cas", { version: 5, newValue: "b" }, info), read(3, [10, 11], "b", 2)], false);
    verdictOf([base, op(2, [2, 3], "updateIfValueIs", { expected: "a", newValue: "b" }, info), read(3, [10, 11], "b", 2)], true);
    verdictOf([base, op(2, [2, 3], "updateIfValueIs", { expected: "q", newValue: "b" }, info), read(3, [10, 11], "b", 2)], false);
  });

  test("the same ops linearized in another order are another state (the memo must not confuse them)", () => {
    // x then y is the only order that lets the update apply; a search trying y then x first
    // reaches the same set of ops in a state the memo must keep apart.
    const history = [
      op(1, [0, 1], "write", { value: "x" }, info),
      op(2, [0.5, 1.5], "write", { value: "y" }, info),
      op(3, [2, 3], "updateIfValueIs", { expected: "y", newValue: "z" }, info),
      read(4, [10, 11], "z", 3),
    ];
    verdictOf(history, true);
    verdictOf([...history, readAt(4, [12, 13], 1, ok({ value: "y", version: 1 }))], false);
  });

  test("failures other than a read's NOT_FOUND or VERSION_GONE did not happen and constrain nothing", () => {
    verdictOf([op(1, [0, 1], "write", { value: "x" }, fail("NOT_LEADER")), read(2, [2, 3], "x", 1)], false);
    verdictOf([op(1, [0, 1], "write", { value: "x" }, fail("UNAVAILABLE")), write(2, [2, 3], "y", 1)], true);
    verdictOf([write(1, [0, 1], "y", 1), op(2, [2, 3], "read", {}, fail("UNAVAILABLE")), op(2, [4, 5], "read", {}, info)], true);
  });

  test("values compare by deep equality, object keys in any order", () => {
    verdictOf([write(1, [0, 1], { x: 1, y: [2, { z: null }] }, 1), read(2, [2, 3], { y: [2, { z: null }], x: 1 }, 1)], true);
    verdictOf([write(1, [0, 1], { x: 1, y: [2] }, 1), update(2, [2, 3], { y: [2], x: 1 }, "n", true, 2)], true);
    verdictOf([write(1, [0, 1], [1, 2], 1), read(2, [2, 3], [2, 1], 1)], false);
    verdictOf([write(1, [0, 1], "1", 1), read(2, [2, 3], 1, 1)], false);
    // As the store compares (sameValue): binaries by their bytes, NaN only equal to NaN.
    verdictOf([write(1, [0, 1], new Uint8Array([1, 2]), 1), read(2, [2, 3], new Uint8Array([1, 2]), 1)], true);
    verdictOf([write(1, [0, 1], new Uint8Array([1, 2]), 1), read(2, [2, 3], { 0: 1, 1: 2 }, 1)], false);
    verdictOf([write(1, [0, 1], NaN, 1), read(2, [2, 3], null, 1)], false);
  });

  test("keys are checked separately and a violation names its key", () => {
    const history = [write(1, [0, 1], "a", 1, "x"), write(2, [0, 1], "a", 1, "y"), read(1, [2, 3], "a", 1, "y"), read(2, [2, 3], "a", 1, "x")];
    expect(verdictOf(history, true)).toEqual({ ok: true, keys: 2, ops: 4 });
    const verdict = verdictOf([...history, write(1, [4, 5], "b", 2, "y"), read(2, [6, 7], "a", 1, "y")], false);
    expect(verdict.ok === false && verdict.key).toBe("y");
  });

  test("a search out of budget says unknown, never ok", () => {
    const verdict = verdictOf([write(1, [0, 1], "a", 1), read(2, [2, 3], "a", 1)], "unknown", { budgetMs: 0 });
    expect(verdict.ok === "unknown" && verdict.why).toContain("budget");
  });

  test("a history the harness cannot have recorded is refused", () => {
    expect(() => checkHistory([write(1, [0, 5], "a", 1), write(1, [3, 8], "b", 2)])).toThrow(/client 1 called it before/);
    expect(() => checkHistory([op(1, [0, 1], "write", { value: "a" }, ok({}))])).toThrow(/ok write/);
    expect(() => checkHistory([op(1, [0, 1], "read", { version: 0 }, fail("NOT_FOUND"))])).toThrow(/positive integer/);
    expect(() => checkHistory([op(1, [5, 1], "write", { value: "a" }, info)])).toThrow(/returnMs >= callMs/);
    expect(() => checkHistory([], { versionsMax: 0 })).toThrow(/versionsMax/);
  });
});

// ---------------------------------------------------------------------------------------------

/** Random histories: up to 60 ops (long enough for real overlap, short enough for hundreds of runs), up to 8 clients on up to 3 keys, versionsMax up to 4 so VERSION_GONE happens. */
const histories = historyArb({ opsMax: 60, clientsMax: 8, keysMax: 3, versionsMaxMax: 4 });
/** Tiny histories for brute force: 7 ops have at most 7! orders (times the indefinite ops' choices). */
const tinyHistories = historyArb({ opsMax: 7, clientsMax: 4, keysMax: 2, versionsMaxMax: 3 });
/** Runs per property: enough to meet every op kind and outcome many times, under a second on a busy 2-core machine. */
const RUNS = 300;
/** Each brute-force answer must come up in at least this share of the runs, or the test exercises one side only (about 15 % are not linearizable). */
const ANSWER_SHARE_MIN = 0.05;

describe("random histories", () => {
  test("a history built around a run of the reference store is linearizable", () => {
    fc.assert(
      fc.property(histories, ({ history, versionsMax }) => {
        verdictOf(history, true, { versionsMax });
      }),
      { numRuns: RUNS },
    );
  });

  test("the same with one read corrupted is not", () => {
    let corrupted = 0;
    fc.assert(
      fc.property(histories, fc.constantFrom(...CORRUPTIONS), fc.nat(1000), ({ history, versionsMax }, how, pick) => {
        const bad = corrupt(history, how, pick);
        fc.pre(bad !== null);
        corrupted++;
        verdictOf(bad, false, { versionsMax });
      }),
      { numRuns: RUNS },
    );
    expect(corrupted).toBe(RUNS);
  });

  test("tiny mutated histories: the checker agrees with brute force over every order", () => {
    const seen = { ok: 0, notOk: 0 };
    fc.assert(
      fc.property(tinyHistories, fc.array(mutationArb, { maxLength: 2 }), ({ history, versionsMax }, mutations) => {
        const mutant = mutations.reduce(mutate, history);
        const expected = bruteForceLinearizable(mutant, versionsMax);
        verdictOf(mutant, expected, { versionsMax });
        seen[expected ? "ok" : "notOk"]++;
      }),
      { numRuns: 2 * RUNS },
    );
    expect(Math.min(seen.ok, seen.notOk)).toBeGreaterThan(2 * RUNS * ANSWER_SHARE_MIN);
  });
});

// ---------------------------------------------------------------------------------------------

/** Decision time allowed for the long histories: they take well under a second here; generous, because the machine is shared. */
const LONG_HISTORY_MS_MAX = 10_000;
/** "About 10 % indefinite" in 1,000 ops, with room for the sample's spread. */
const INDEFINITE_OPS_MIN = 70;

function timed<T>(label: string, run: () => T): T {
  const startMs = performance.now();
  const result = run();
  console.log(`${label}: ${(performance.now() - startMs).toFixed(0)} ms`);
  return result;
}

describe("long histories", () => {
  const choices = (count: number, seed: number) => fc.sample(fc.array(choiceArb, { minLength: count, maxLength: count }), { seed, numRuns: 1 })[0]!;

  test("1,000 ops on one key from 8 clients, about 10 % indefinite, are decided in seconds; each kind of corrupted read among them is found", () => {
    const { history, versionsMax } = buildHistory({ clients: 8, keys: 1, versionsMax: 10 }, choices(1000, 1));
    const indefinite = history.filter((o) => o.outcome.kind === "info").length;
    expect(indefinite).toBeGreaterThan(INDEFINITE_OPS_MIN);
    const startMs = performance.now();
    timed(`1,000 ops, ${indefinite} indefinite: linearizable`, () => verdictOf(history, true, { versionsMax }));
    for (const how of CORRUPTIONS) timed(`1,000 ops, ${how}: not`, () => verdictOf(corrupt(history, how, 500)!, false, { versionsMax }));
    expect(performance.now() - startMs).toBeLessThan(LONG_HISTORY_MS_MAX);
  });

  test("50 keys × 200 ops are fast because each key is checked alone", () => {
    const { history, versionsMax } = buildHistory({ clients: 8, keys: 50, versionsMax: 10 }, choices(50 * 200, 2));
    const startMs = performance.now();
    const verdict = timed("50 keys × 200 ops", () => verdictOf(history, true, { versionsMax }));
    expect(verdict.ok === true && verdict.keys).toBe(50);
    expect(performance.now() - startMs).toBeLessThan(LONG_HISTORY_MS_MAX);
  });
});
