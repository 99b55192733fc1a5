// Goal: the rule that decides which appends count is right on its own: appends count only for the
// outstanding grant, once per slave; revoke and a new epoch void a grant; the list is a function of
// the message sequence alone. Method: hand-written sequences, and fast-check feeding the same random
// sequence to two states (they must agree) with invariants checked after every step.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { FanoutMessage } from "../../protocols/mutex.ts";
import { RoundState } from "../../src/mutex/round_state.ts";

const start: FanoutMessage = { type: "start", epoch: 1, leader: "L", slaves: ["a", "b", "c"] };

function run(messages: FanoutMessage[]): RoundState {
  const state = new RoundState();
  for (const m of messages) state.apply(m);
  return state;
}

describe("RoundState", () => {
  test("an append counts only for the outstanding grant", () => {
    const state = run([
      start,
      { type: "append", epoch: 1, slave: "a", seq: 1, value: 5 }, // no grant yet
      { type: "grant", epoch: 1, slave: "a", seq: 1 },
      { type: "append", epoch: 1, slave: "b", seq: 1, value: 6 }, // not the granted slave
      { type: "append", epoch: 1, slave: "a", seq: 2, value: 7 }, // wrong seq
      { type: "append", epoch: 1, slave: "a", seq: 1, value: 8 }, // counts
      { type: "append", epoch: 1, slave: "a", seq: 1, value: 9 }, // duplicate
    ]);
    expect(state.list).toEqual([8]);
    expect([...state.written]).toEqual(["a"]);
  });

  test("revoke voids the grant: a late append of the revoked slave counts for nobody", () => {
    const state = run([
      start,
      { type: "grant", epoch: 1, slave: "a", seq: 1 },
      { type: "revoke", epoch: 1, slave: "a", seq: 1 },
      { type: "append", epoch: 1, slave: "a", seq: 1, value: 1 },
      { type: "grant", epoch: 1, slave: "b", seq: 2 },
      { type: "append", epoch: 1, slave: "b", seq: 2, value: 2 },
    ]);
    expect(state.list).toEqual([2]);
  });

  test("a new leader's epoch voids older grants; stale leader messages are ignored", () => {
    const state = run([
      start,
      { type: "grant", epoch: 1, slave: "a", seq: 1 },
      { type: "leader", epoch: 3, leader: "a" },
      { type: "append", epoch: 1, slave: "a", seq: 1, value: 1 },
      { type: "leader", epoch: 2, leader: "zombie" },
      { type: "grant", epoch: 2, slave: "b", seq: 2 },
      { type: "grant", epoch: 3, slave: "c", seq: 2 },
      { type: "append", epoch: 3, slave: "c", seq: 2, value: 3 },
    ]);
    expect(state.epoch).toBe(3);
    expect(state.leader).toBe("a");
    expect(state.list).toEqual([3]);
  });

  test("random sequences: two participants agree, every slave appears at most once, list = counted appends", () => {
    const slave = fc.constantFrom("a", "b", "c", "d");
    const message: fc.Arbitrary<FanoutMessage> = fc.oneof(
      fc.record({ type: fc.constant("grant" as const), epoch: fc.integer({ min: 1, max: 3 }), slave, seq: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ type: fc.constant("append" as const), epoch: fc.integer({ min: 1, max: 3 }), slave, seq: fc.integer({ min: 1, max: 6 }), value: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ type: fc.constant("revoke" as const), epoch: fc.integer({ min: 1, max: 3 }), slave, seq: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ type: fc.constant("leader" as const), epoch: fc.integer({ min: 1, max: 3 }), leader: slave }),
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 60 }), (messages) => {
        const a = new RoundState();
        const b = new RoundState();
        const counted: Array<{ slave: string; value: number }> = [];
        a.apply(start);
        b.apply(start);
        for (const m of messages) {
          const change = a.apply(m);
          b.apply(m);
          if (change === "appended" && m.type === "append") counted.push({ slave: m.slave, value: m.value });
          expect(a.list).toEqual(b.list);
        }
        expect(a.list).toEqual(counted.map((c) => c.value));
        expect(new Set(counted.map((c) => c.slave)).size).toBe(counted.length);
        expect(a.written.size).toBe(a.list.length);
      }),
      { numRuns: 2000 },
    );
  });
});
