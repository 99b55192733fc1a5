// The shared shape of a torture run, as the MIT 6.5840 test script and Jepsen do it: many runs, each
// a seeded randomized fault schedule against real processes, each judged against an independent
// reference. A run's seed is all it takes to replay it (`npm run torture -- <suite> --seed S --runs 1`).
// The summary counts runs, equal, wrong and hung, and prints the seed of every failure.

import { Terminal } from "../../src/runtime/terminal.ts";
import { seededRandom } from "../../src/seeded_random.ts";

/** How one run ended. */
export type Verdict =
  /** The output matched the reference. */
  | { kind: "equal"; notes?: string[] }
  /** The system finished but its output differs from the reference (the worst outcome). */
  | { kind: "wrong"; why: string }
  /** Something did not finish within the run's time bound. */
  | { kind: "hung"; why: string }
  /** A process exited in a way the schedule does not explain (a crash, an exit 3 with a coordinator alive). */
  | { kind: "error"; why: string }
  /**
   * The schedule went beyond what the design survives (a second fault inside a backup's sync
   * window): the job is lost, and every process said so and exited, as designed. Not a failure.
   */
  | { kind: "lost"; why: string };

export interface RunContext {
  seed: number;
  /** The run's random source: every choice of the schedule comes from here, so the seed replays it. */
  rand: (n: number) => number;
  /** Append a line to the run's fault log (printed for a failing run). */
  log: (line: string) => void;
}

export interface Suite {
  name: string;
  /** One run: start the processes, inject the faults, judge, clean up every process (also on throw). */
  run(ctx: RunContext): Promise<Verdict>;
}

export interface TortureSummary {
  suite: string;
  runs: number;
  equal: number;
  wrong: number;
  hung: number;
  errors: number;
  /** Runs lost as designed (see Verdict "lost"). */
  lost: number;
  /** Seeds of the runs that were not equal, with why. */
  failures: Array<{ seed: number; verdict: Verdict; log: string[] }>;
  elapsedMs: number;
}

/** The seed of run i of a torture started with `seed`: distinct, reproducible, printable. */
export function runSeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 2654435761) + i * 0x632be5ab) >>> 0;
}

/**
 * Run `runs` runs of a suite. With `seedIsRunSeed` the given seed is used as is for a single run
 * (replaying a printed failure). Shows a status line; prints each failure as it happens.
 */
export async function torture(suite: Suite, options: { runs: number; seed: number; seedIsRunSeed?: boolean; terminal?: Terminal; quiet?: boolean }): Promise<TortureSummary> {
  const terminal = options.terminal ?? new Terminal();
  const started = performance.now();
  const summary: TortureSummary = { suite: suite.name, runs: 0, equal: 0, wrong: 0, hung: 0, errors: 0, lost: 0, failures: [], elapsedMs: 0 };
  const progress = options.quiet ? null : terminal.progress(`torture ${suite.name}`, options.runs);
  for (let i = 0; i < options.runs; i++) {
    const seed = options.seedIsRunSeed && options.runs === 1 ? options.seed >>> 0 : runSeed(options.seed, i);
    const log: string[] = [];
    let verdict: Verdict;
    try {
      verdict = await suite.run({ seed, rand: seededRandom(seed), log: (line) => log.push(line) });
    } catch (err) {
      verdict = { kind: "error", why: `the run threw: ${(err as Error).stack ?? String(err)}` };
    }
    summary.runs++;
    if (process.env.TORTURE_VERBOSE && !options.quiet) for (const line of [`run ${i + 1} seed ${seed}: ${verdict.kind}`, ...log]) terminal.line(`  ${line}`);
    if (verdict.kind === "equal") summary.equal++;
    else if (verdict.kind === "lost") {
      summary.lost++;
      if (!options.quiet) terminal.line(`run ${i + 1} seed ${seed}: lost as designed: ${verdict.why}`);
    } else {
      if (verdict.kind === "wrong") summary.wrong++;
      else if (verdict.kind === "hung") summary.hung++;
      else summary.errors++;
      summary.failures.push({ seed, verdict, log });
      if (!options.quiet) {
        terminal.line(`run ${i + 1} seed ${seed}: ${verdict.kind.toUpperCase()}: ${verdict.why}`);
        for (const line of log) terminal.line(`    ${line}`);
        terminal.line(`    replay: npm run torture -- ${suite.name} --seed ${seed} --runs 1 --exact`);
      }
    }
    progress?.update(summary.runs, `equal ${summary.equal} wrong ${summary.wrong} hung ${summary.hung} errors ${summary.errors}${summary.lost > 0 ? ` lost-as-designed ${summary.lost}` : ""}`);
  }
  progress?.finish();
  summary.elapsedMs = Math.round(performance.now() - started);
  return summary;
}

export function formatSummary(s: TortureSummary): string {
  const seeds = s.failures.map((f) => `${f.seed} (${f.verdict.kind})`).join(", ");
  const lost = s.lost > 0 ? `, ${s.lost} lost as designed (a fault beyond the design's, every process exited saying so)` : "";
  return `${s.suite}: ${s.runs} runs, ${s.equal} equal, ${s.wrong} wrong, ${s.hung} hung, ${s.errors} errors${lost} in ${(s.elapsedMs / 1000).toFixed(1)} s${seeds ? `; failing seeds: ${seeds}` : ""}`;
}
