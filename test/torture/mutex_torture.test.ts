// Goal: a short, fixed-seed taste of the mutex torture in every `npm test`: the leader killed before
// the first append, then the slave that took over stopped past the heartbeat window, then a random
// slave killed (seed 10's three schedules), each judged against the observer's own reading of the
// fanout. Method: test/torture/mutex_suite.ts with real processes; the long randomized run is
// `npm run torture -- mutex --runs 100`.

import { expect, test } from "bun:test";
import { mutexSuite } from "./mutex_suite.ts";
import { formatSummary, torture } from "./torture.ts";

const SEED = 10;
const RUNS = 3;

test(`mutex torture, ${RUNS} runs from seed ${SEED}: every run equal to the reference`, async () => {
  const summary = await torture(mutexSuite, { runs: RUNS, seed: SEED, quiet: true });
  // On failure, say which seed and what the schedule did (replay it with --seed S --runs 1 --exact).
  const failures = summary.failures.map((f) => `seed ${f.seed}: ${f.verdict.kind}: ${"why" in f.verdict ? f.verdict.why : ""}\n  ${f.log.join("\n  ")}`);
  expect({ summary: formatSummary(summary), failures }).toEqual({ summary: expect.stringContaining(`${RUNS} runs, ${RUNS} equal`), failures: [] });
}, 120_000);
