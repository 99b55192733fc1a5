// `npm run torture -- mapreduce|mutex|storage|storage-gossip [--runs N] [--seed S] [--exact]`: seeded randomized fault
// schedules against real processes, each judged against an independent reference (torture.ts).
// --seed S starts the run seeds from S; with --runs 1 --exact, S is the run's own seed (replay a
// printed failure). Exit 0 only if every run was equal.

import { formatSummary, torture, type Suite } from "./torture.ts";

const suites: Record<string, () => Promise<Suite>> = {
  mapreduce: async () => (await import("./mapreduce_suite.ts")).mapreduceSuite,
  mutex: async () => (await import("./mutex_suite.ts")).mutexSuite,
  storage: async () => (await import("./storage_suite.ts")).storageSuite,
  /** Gossip mode under the same faults: expected to fail the checker (the seed's anomalies, shown). */
  "storage-gossip": async () => (await import("./storage_suite.ts")).storageGossipSuite,
};

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const names = args.filter((a, i) => !a.startsWith("--") && !["--runs", "--seed"].includes(args[i - 1] ?? ""));
const usage = `usage: npm run torture -- ${Object.keys(suites).join("|")} [--runs N] [--seed S] [--exact]`;
if (names.length === 0 || names.some((n) => suites[n] === undefined)) {
  console.error(names.length === 0 ? usage : `unknown suite ${names.find((n) => suites[n] === undefined)}; ${usage}`);
  process.exit(2);
}
const runs = Number(flag("runs") ?? 20);
const seed = Number(flag("seed") ?? Date.now() % 1_000_000);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed) || seed < 0) {
  console.error(`--runs and --seed take non-negative integers; ${usage}`);
  process.exit(2);
}
let failed = 0;
for (const name of names) {
  console.log(`torture ${name}: ${runs} run(s) from seed ${seed}`);
  const summary = await torture(await suites[name]!(), { runs, seed, seedIsRunSeed: args.includes("--exact") });
  console.log(formatSummary(summary));
  failed += summary.wrong + summary.hung + summary.errors;
}
process.exit(failed === 0 ? 0 : 1);
