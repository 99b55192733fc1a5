// The coordinator's bookkeeping for one job: which map and reduce tasks are idle, running (on which
// workers, since when) or done. Rules:
// - a task goes to a worker that asks; reduces only once every map is done;
// - a running task silent past the task timeout is issued again to another worker; the first
//   completion wins and later ones are ignored; with no failures no task runs twice;
// - a worker that dies gives its running tasks back at once;
// - an app error is retried up to attemptsMax times, then the job fails with the app's message.
// Intermediate data stays here (the coordinator), so a dead worker's finished maps are never lost.

import type { Grouped } from "../../protocols/mapreduce.ts";

export interface Split {
  file: string;
  contents: string;
}

interface Attempt {
  worker: string;
  startedMs: number;
}

interface Task {
  done: boolean;
  attempts: number;
  failures: number;
  running: Map<number, Attempt>;
}

export type Assignment = { kind: "map" | "reduce"; task: number; attempt: number } | { wait: true } | { finished: true };

export class Job {
  readonly maps: Task[];
  readonly reduces: Task[];
  /** Per map task, its grouped output per partition. */
  readonly intermediate: Array<Grouped[] | null>;
  reassignments = 0;
  retries = 0;
  failure: string | null = null;

  constructor(
    readonly splits: Split[],
    readonly reduceCount: number,
    private readonly taskTimeoutMs: number,
    private readonly attemptsMax: number,
  ) {
    const fresh = (): Task => ({ done: false, attempts: 0, failures: 0, running: new Map() });
    this.maps = splits.map(fresh);
    this.reduces = Array.from({ length: reduceCount }, fresh);
    this.intermediate = splits.map(() => null);
  }

  get mapsDone(): number {
    return this.maps.filter((t) => t.done).length;
  }
  get reducesDone(): number {
    return this.reduces.filter((t) => t.done).length;
  }
  get finished(): boolean {
    return this.failure !== null || this.reduces.every((t) => t.done);
  }

  /** What `worker` should do next. */
  next(worker: string, nowMs: number): Assignment {
    if (this.finished) return { finished: true };
    const phase = this.maps.every((t) => t.done) ? "reduce" : "map";
    const tasks = phase === "map" ? this.maps : this.reduces;
    // First an idle task; then a straggler (silent past the timeout, not already on this worker).
    let chosen = tasks.findIndex((t) => !t.done && t.running.size === 0);
    if (chosen < 0) {
      chosen = tasks.findIndex(
        (t) => !t.done && [...t.running.values()].every((a) => a.worker !== worker && nowMs - a.startedMs >= this.taskTimeoutMs),
      );
      if (chosen >= 0) this.reassignments++;
    }
    if (chosen < 0) return { wait: true };
    const task = tasks[chosen]!;
    const attempt = ++task.attempts;
    task.running.set(attempt, { worker, startedMs: nowMs });
    return { kind: phase, task: chosen, attempt };
  }

  /** Record a finished map; false if it was already done (a duplicate from a reissue). */
  completeMap(task: number, partitions: Grouped[]): boolean {
    const t = this.maps[task];
    if (t === undefined || t.done) return false;
    t.done = true;
    t.running.clear();
    this.intermediate[task] = partitions;
    return true;
  }

  /** Record a finished reduce; false for a duplicate. The caller writes the file first. */
  completeReduce(task: number): boolean {
    const t = this.reduces[task];
    if (t === undefined || t.done) return false;
    t.done = true;
    t.running.clear();
    return true;
  }

  isDone(kind: "map" | "reduce", task: number): boolean {
    return (kind === "map" ? this.maps : this.reduces)[task]?.done ?? true;
  }

  /** The app threw: retry, or fail the job after attemptsMax failures of one task. */
  failed(kind: "map" | "reduce", task: number, attempt: number, error: string): void {
    const t = (kind === "map" ? this.maps : this.reduces)[task];
    if (t === undefined || t.done) return;
    t.running.delete(attempt);
    t.failures++;
    if (t.failures >= this.attemptsMax) this.failure = `${kind} task ${task} failed ${t.failures} times: ${error}`;
    else this.retries++;
  }

  /** A worker is gone: its running attempts end now, so their tasks can go to others. */
  workerLost(worker: string): number {
    let released = 0;
    for (const t of [...this.maps, ...this.reduces]) {
      for (const [attempt, a] of t.running) {
        if (a.worker !== worker) continue;
        t.running.delete(attempt);
        released++;
      }
    }
    this.reassignments += released;
    return released;
  }
}
