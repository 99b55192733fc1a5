// Goal: a fixed-seed taste of the storage torture in every `npm test`: concurrent clients' history
// under kill -9, SIGSTOP and partitions of the linearizable store, checked by the independent
// linearizability checker (test/checker). The long run is `npm run torture -- storage --runs 100`.

import { expect, test } from "bun:test";
import { storageSuite } from "./storage_suite.ts";
import { formatSummary, torture } from "./torture.ts";

const SEED = 7;

test(`storage torture, 1 run from seed ${SEED}: the history is linearizable and the store serves after healing`, async () => {
  const summary = await torture(storageSuite, { runs: 1, seed: SEED, quiet: true });
  const failures = summary.failures.map((f) => `seed ${f.seed}: ${f.verdict.kind}: ${"why" in f.verdict ? f.verdict.why : ""}\n  ${f.log.join("\n  ")}`);
  expect({ summary: formatSummary(summary), failures }).toEqual({ summary: expect.stringContaining("1 runs, 1 equal"), failures: [] });
}, 90_000);
