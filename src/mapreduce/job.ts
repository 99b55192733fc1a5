// The coordinator's bookkeeping for one job: which map and reduce tasks are idle, running (on which
// workers, since when) or done, and where each finished map's output is. Rules:
// - a task goes to a worker that asks; reduces only once every map is done;
// - a running task silent past the task timeout is issued again to another worker; the first
//   completion wins and later ones are ignored; with no failures no task runs twice;
// - a worker that dies gives its running tasks back at once, and its finished maps too while a
//   reduce may still need them (their output was on that worker's disk), as in Google's MapReduce;
// - a reduce that cannot fetch a map's output ends, and that map runs again if its output was
//   where the reduce looked;
// - an app error is retried up to attemptsMax times, then the job fails with the app's message.
// The job holds metadata only: split ranges, locations, counters.

import type { Split } from "./splits.ts";

interface Attempt {
  worker: string;
  startedMs: number;
}

/** Where a finished map's output is. */
export interface MapLocation {
  /** The node id of the worker that made it. */
  worker: string;
  /** Its fetch address. */
  address: string;
  /** Bytes of output per partition (0: that reduce need not fetch from this map). */
  partitionBytes: number[];
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
  /** Per map task, where its output is once done. */
  readonly locations: Array<MapLocation | null>;
  reassignments = 0;
  retries = 0;
  /** Finished maps that had to run again because their output was lost with its worker. */
  mapsLost = 0;
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
    this.locations = splits.map(() => null);
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

  /** Record a finished map and where its output is; false if it was already done (a duplicate from a reissue). */
  completeMap(task: number, location: MapLocation): boolean {
    const t = this.maps[task];
    if (t === undefined || t.done) return false;
    t.done = true;
    t.running.clear();
    this.locations[task] = location;
    return true;
  }

  /** A finished map's output is gone: it is idle again. False if it was not done. */
  unmap(task: number): boolean {
    const t = this.maps[task];
    if (t === undefined || !t.done) return false;
    t.done = false;
    this.locations[task] = null;
    this.mapsLost++;
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

  /** Whether `attempt` of a task is still one the job waits for. */
  isRunning(kind: "map" | "reduce", task: number, attempt: number): boolean {
    return (kind === "map" ? this.maps : this.reduces)[task]?.running.has(attempt) ?? false;
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

  /**
   * A reduce could not fetch map `map` from `address`: the attempt ends (not an app failure), and
   * if the map's output was there, every map whose output is at that address runs again: the
   * worker serving it is gone or unreachable, and finding that out one fetch timeout per map
   * (after a takeover, when the coordinator never saw that worker die) took minutes. Returns the
   * maps unmapped.
   */
  fetchFailed(task: number, attempt: number, map: number, address: string): number[] {
    this.reduces[task]?.running.delete(attempt);
    if (this.locations[map]?.address !== address) return [];
    const unmapped: number[] = [];
    this.locations.forEach((location, m) => {
      if (location?.address === address && this.stillNeeded(location) && this.unmap(m)) unmapped.push(m);
    });
    return unmapped;
  }

  /**
   * A worker is gone: its running attempts end now, and its finished maps are idle again while
   * some reduce is not done. Returns how many attempts ended and which maps were unmapped.
   */
  workerLost(worker: string): { released: number; unmapped: number[] } {
    let released = 0;
    for (const t of [...this.maps, ...this.reduces]) {
      for (const [attempt, a] of t.running) {
        if (a.worker !== worker) continue;
        t.running.delete(attempt);
        released++;
      }
    }
    this.reassignments += released;
    const unmapped: number[] = [];
    this.locations.forEach((location, task) => {
      if (location?.worker === worker && this.stillNeeded(location) && this.unmap(task)) unmapped.push(task);
    });
    return { released, unmapped };
  }

  /** Whether some reduce not done yet has output to fetch at this location. */
  private stillNeeded(location: MapLocation): boolean {
    return !this.finished && this.reduces.some((t, r) => !t.done && (location.partitionBytes[r] ?? 0) > 0);
  }

  /** The reduce task's view of where partition `r` is: the addresses, and [map, address index, bytes] per map with output for it. */
  sourcesFor(r: number): { addresses: string[]; sources: Array<[number, number, number]> } {
    const addresses: string[] = [];
    const at = new Map<string, number>();
    const sources: Array<[number, number, number]> = [];
    this.locations.forEach((location, map) => {
      const bytes = location?.partitionBytes[r] ?? 0;
      if (location === null || bytes === 0) return;
      let i = at.get(location.address);
      if (i === undefined) {
        i = addresses.length;
        addresses.push(location.address);
        at.set(location.address, i);
      }
      sources.push([map, i, bytes]);
    });
    return { addresses, sources };
  }
}
