// Goal: the MapReduce torture (npm run torture -- mapreduce) passes a short fixed-seed run on every
// `npm test`: random corpora, kill -9 and SIGSTOP of workers, partitions, coordinator kills with
// takeovers, each judged against an independent reference. The long run is its own command.

import { expect, test } from "bun:test";
import { mapreduceSuite } from "./mapreduce_suite.ts";
import { formatSummary, torture } from "./torture.ts";

test("2 seeded torture runs of MapReduce: all equal to the reference, nothing hung, every exit explained", async () => {
  const summary = await torture(mapreduceSuite, { runs: 2, seed: 20261122, quiet: true });
  if (summary.failures.length > 0) console.log(formatSummary(summary), JSON.stringify(summary.failures, null, 2));
  expect(summary.wrong + summary.hung + summary.errors).toBe(0);
  expect(summary.equal + summary.lost).toBe(2);
}, 240_000);
