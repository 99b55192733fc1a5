// The coordinator's work, for the coordinator role and for a backup that took over: serve the
// `mapreduce` protocol (tasks, where map outputs are, results), write outputs atomically, mirror
// every change of state to a backup before acknowledging it, and end the job (outputs final →
// workers told to exit → done). It holds metadata only: a map task's split is read from disk when
// it is handed out, and map outputs stay on the workers. It writes nowhere but the output files:
// what happens is emitted as events, which the roles render.

import { mkdir } from "node:fs/promises";
import { mapreduce, mapreduceBackup, mapreduceWorker, type AppSpec, type BackupWelcome, type JobStatus, type NextReply, type SyncEvent } from "../../protocols/mapreduce.ts";
import { PeerError } from "../errors.ts";
import { crashNow, failpoint } from "../failpoints.ts";
import { limits } from "../limits.ts";
import type { Connection } from "../runtime/connection.ts";
import { Emitter } from "../runtime/emitter.ts";
import { ExitCode } from "../runtime/exit.ts";
import type { HandlerTable } from "../runtime/handlers.ts";
import type { NodeServer } from "../runtime/node_server.ts";
import type { Job } from "./job.ts";
import { outputPath, writeAtomic } from "./output.ts";
import { readSplit } from "./splits.ts";

export interface CoordinatorOptions {
  job: Job;
  outDir: string;
  app: AppSpec;
  taskTimeoutMs: number;
  server: NodeServer;
  handlers: HandlerTable;
  /** Takeovers so far (0 for the first coordinator). */
  takeovers: number;
}

export type CoordinatorEvents = {
  /** Roughly four times a second while the job runs, and once at the end. */
  progress: [JobStatus];
  "backup-registered": [string];
  "backup-in-sync": [string];
  "backup-lost": [string];
  "backup-mirror-failed": [string, string];
  "worker-lost": [string, number, number];
  /** `rerun`: how many maps run again (every map whose output was at that address). */
  "fetch-failed": [{ reduce: number; map: number; address: string; error: string; rerun: number }];
  /** No worker for noWorkersWarnMs (and again every time as long as it lasts). */
  "no-workers": [number];
  "task-failed": [{ kind: "map" | "reduce"; task: number; attempt: number; error: string }];
  /**
   * The outputs are final (code 0) or the job failed, and the workers connected now were told to
   * exit; `waitingFor` are workers of the job not connected right now, for whom the coordinator
   * lingers up to exitLingerMs before it exits.
   */
  final: [{ code: number; failure: string | null; waitingFor: string[] }];
  /** The job ended and the coordinator stops serving: code 0 with the outputs final, or the job's failure. */
  ended: [{ code: number; failure: string | null }];
};

const crashAfterMaps = failpoint("coordinator-crash-after-maps");
/** Test failpoints: die just before the backup is told it is in sync (workers already told), or just after. */
const crashBeforeInSync = failpoint("coordinator-crash-before-in-sync");
const crashAfterInSync = failpoint("coordinator-crash-after-in-sync");
const crashAfterReduces = failpoint("coordinator-crash-after-reduces");

export class Coordinator extends Emitter<CoordinatorEvents> {
  private ending = false;
  private backup: { connection: Connection; address: string; inSync: boolean; streaming: boolean } | null = null;
  private readonly ticker: ReturnType<typeof setInterval>;
  /** Workers this job has seen (connected here, or holding map output): each should hear that the job ended. */
  private readonly knownWorkers = new Set<string>();
  /** Workers told that the job ended (mr.exit, or exit in an mr.next reply). */
  private readonly toldWorkers = new Set<string>();
  /** When the coordinator last had a worker (its start, if never). */
  private lastWorkerMs = Date.now();
  private lastNoWorkersWarnMs = 0;

  constructor(private readonly o: CoordinatorOptions) {
    super();
    const { job, handlers, server } = o;
    const splits = job.splits.length;
    const inRange = (what: string, n: number, max: number): number => {
      if (n >= max) throw new PeerError("BAD_ARGUMENT", `${what} ${n} is out of range 0..${max - 1}`);
      return n;
    };
    handlers.serve(mapreduce, {
      "mr.next": (_a, { connection }) => this.next(connection),
      "mr.mapped": async (a, { connection }) => {
        const task = inRange("task", a.task, splits);
        if (a.partitionBytes.length !== job.reduceCount) throw new PeerError("BAD_ARGUMENT", `"partitionBytes" must hold ${job.reduceCount} numbers`);
        if (job.isDone("map", task)) return {};
        const worker = connection.peer?.node ?? a.address;
        await this.mirror({ event: "mapped", task, worker, address: a.address, partitionBytes: a.partitionBytes });
        job.completeMap(task, { worker, address: a.address, partitionBytes: a.partitionBytes });
        this.knownWorkers.add(worker);
        // Test failpoint: die right after the K-th map is recorded (and mirrored), mid-job.
        if (crashAfterMaps !== undefined && job.mapsDone >= Number(crashAfterMaps)) setImmediate(crashNow);
        return {};
      },
      "mr.fetch-failed": async (a) => {
        const task = inRange("task", a.task, job.reduceCount);
        inRange("map", a.map, splits);
        const unmapped = job.fetchFailed(task, a.attempt, a.map, a.address);
        this.emit("fetch-failed", { reduce: task, map: a.map, address: a.address, error: a.error, rerun: unmapped.length });
        for (const m of unmapped) await this.mirror({ event: "unmapped", task: m });
        return {};
      },
      "mr.reduced": async (a) => {
        const task = inRange("task", a.task, job.reduceCount);
        if (job.isDone("reduce", task)) return {}; // a duplicate from a reissued task: the first won
        await this.mirror({ event: "reduced", task, output: a.output });
        await writeAtomic(outputPath(o.outDir, task), a.output);
        if (job.completeReduce(task) && job.finished) void this.end();
        else if (crashAfterReduces !== undefined && job.reducesDone >= Number(crashAfterReduces)) setImmediate(crashNow);
        return {};
      },
      "mr.failed": (a) => {
        this.emit("task-failed", a);
        job.failed(a.kind, a.task, a.attempt, a.error);
        if (job.failure !== null) void this.end();
        return {};
      },
      "mr.backup.register": (a, { connection }) => this.registerBackup(a.address, connection),
      "mr.backup.sync": async (_a, { connection }) => {
        await this.streamSnapshot(connection);
        return {};
      },
      "mr.status": () => this.status(),
    });

    server.on("ready", (c) => {
      if (c.peer?.role === "worker") this.knownWorkers.add(c.peer.node);
    });
    for (const location of job.locations) if (location !== null) this.knownWorkers.add(location.worker);
    server.on("closed", (c) => {
      if (c === this.backup?.connection) {
        this.emit("backup-lost", this.backup.address);
        this.backup = null;
        return;
      }
      if (c.peer?.role !== "worker" || this.ending) return;
      const { released, unmapped } = job.workerLost(c.peer.node);
      if (released > 0 || unmapped.length > 0) this.emit("worker-lost", c.peer.node, released, unmapped.length);
      for (const task of unmapped) void this.mirror({ event: "unmapped", task });
    });
    this.ticker = setInterval(() => this.tick(), limits.progressEveryMs);
  }

  /** Start serving: outputs already complete (after a takeover) are written; maybe the job is done. */
  async begin(): Promise<void> {
    await mkdir(this.o.outDir, { recursive: true });
    if (this.o.job.finished) await this.end();
  }

  status(): JobStatus {
    const { job } = this.o;
    const workers = this.workerCount();
    return {
      maps: job.splits.length, mapsDone: job.mapsDone, reduces: job.reduceCount, reducesDone: job.reducesDone,
      workers, reassignments: job.reassignments, retries: job.retries, takeovers: this.o.takeovers,
      noWorkersMs: workers > 0 ? 0 : Date.now() - this.lastWorkerMs, mapsLost: job.mapsLost,
    };
  }

  private tick(): void {
    const status = this.status();
    if (status.workers > 0) this.lastWorkerMs = Date.now();
    else if (status.noWorkersMs >= limits.noWorkersWarnMs && Date.now() - this.lastNoWorkersWarnMs >= limits.noWorkersWarnMs) {
      this.lastNoWorkersWarnMs = Date.now();
      this.emit("no-workers", status.noWorkersMs);
    }
    this.emit("progress", status);
  }

  private async next(c: Connection): Promise<NextReply> {
    const { job } = this.o;
    const backup = this.backup?.inSync ? { backup: this.backup.address } : {};
    const next = job.next(c.peer?.node ?? "?", Date.now());
    if ("finished" in next) {
      this.toldWorkers.add(c.peer?.node ?? "?");
      return { exit: true, ...backup };
    }
    if ("wait" in next) return { wait: limits.workerPollMs, ...backup };
    if (next.kind === "map") {
      const split = job.splits[next.task]!;
      const contents = await readSplit(split);
      return { task: { kind: "map", task: next.task, attempt: next.attempt, file: split.file, contents, reduces: job.reduceCount, app: this.o.app }, ...backup };
    }
    return { task: { kind: "reduce", task: next.task, attempt: next.attempt, app: this.o.app, ...job.sourcesFor(next.task) }, ...backup };
  }

  /** A backup registers: it gets the job's shape; it asks for the state (mr.backup.sync) once ready for it. */
  private registerBackup(address: string, c: Connection): BackupWelcome {
    if (this.backup !== null && this.backup.connection.isOpen) throw new PeerError("PRECONDITION_FAILED", `a backup is already registered (${this.backup.address})`);
    this.backup = { connection: c, address, inSync: false, streaming: false };
    this.emit("backup-registered", address);
    const { job } = this.o;
    return { splits: job.splits.length, reduces: job.reduceCount, outDir: this.o.outDir, app: this.o.app, taskTimeoutMs: this.o.taskTimeoutMs, takeovers: this.o.takeovers };
  }

  /**
   * Send the state as mr.sync requests: splits, completed maps (where their output is), completed
   * reduces; then tell every worker where the backup is and wait for their answers; then
   * "in-sync". Live changes are mirrored from the first of these on, and the connection keeps them
   * in order, so the backup never misses one. A backup counts itself in sync only once the workers
   * know it: if we die after that, every worker can find it.
   */
  private async streamSnapshot(c: Connection): Promise<void> {
    const backup = this.backup;
    if (backup === null || backup.connection !== c) throw new PeerError("PRECONDITION_FAILED", "register first (mr.backup.register)");
    backup.streaming = true;
    const { job } = this.o;
    const sync = (event: SyncEvent): Promise<unknown> => c.call(mapreduceBackup, "mr.sync", event);
    for (let index = 0; index < job.splits.length; index++) {
      const split = job.splits[index]!;
      await sync({ event: "split", index, file: split.file, contents: await readSplit(split) });
    }
    for (let task = 0; task < job.splits.length; task++) {
      const location = job.locations[task];
      if (location) await sync({ event: "mapped", task, ...location });
    }
    for (let task = 0; task < job.reduceCount; task++) {
      if (job.isDone("reduce", task)) await sync({ event: "reduced", task, output: await Bun.file(outputPath(this.o.outDir, task)).text() });
    }
    // Every worker of this job must know the backup before it counts as in sync: those connected
    // now, and those known but away (reconnecting after a blip or a takeover), who are told as they
    // come back, for at most backupAnnounceTimeoutMs (a dead one never will).
    const told = new Set<string>();
    const untilMs = Date.now() + limits.backupAnnounceTimeoutMs;
    for (;;) {
      const waiting = this.o.server.readyConnections().filter((w) => w.peer?.role === "worker" && !told.has(w.peer.node));
      await Promise.allSettled(waiting.map(async (w) => {
        await w.call(mapreduceWorker, "mr.backup", { address: backup.address }, limits.backupAnnounceTimeoutMs);
        told.add(w.peer!.node);
      }));
      if ([...this.knownWorkers].every((w) => told.has(w)) || Date.now() >= untilMs || !c.isOpen) break;
      await Bun.sleep(limits.workerPollMs);
    }
    if (crashBeforeInSync !== undefined) crashNow();
    await sync({ event: "in-sync" });
    if (crashAfterInSync !== undefined) crashNow();
    backup.inSync = true;
    this.emit("backup-in-sync", backup.address);
  }

  /** The backup applies a change before we act on it. Without a backup, nothing to wait for. */
  private async mirror(event: SyncEvent): Promise<void> {
    const backup = this.backup;
    if (backup === null || !backup.streaming || !backup.connection.isOpen) return;
    try {
      await backup.connection.call(mapreduceBackup, "mr.sync", event);
    } catch (err) {
      this.emit("backup-mirror-failed", backup.address, (err as Error).message);
    }
  }

  private workerCount(): number {
    return this.o.server.readyConnections().filter((c) => c.peer?.role === "worker").length;
  }

  /** Outputs are final before anyone is told to exit; then the workers go, then we do. */
  private async end(): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    const { job, server } = this.o;
    clearInterval(this.ticker);
    this.emit("progress", this.status());
    const code = job.failure === null ? ExitCode.ok : ExitCode.jobFailed;
    for (const c of server.readyConnections()) {
      if (c.peer?.role === "worker") {
        c.send(mapreduceWorker, "mr.exit", { code });
        this.toldWorkers.add(c.peer.node);
      } else if (c === this.backup?.connection) c.send(mapreduceBackup, "mr.exit", { code });
    }
    this.emit("final", { code, failure: job.failure, waitingFor: [...this.knownWorkers].filter((w) => !this.toldWorkers.has(w)) });
    // A worker of this job still looking for us (after a takeover, or a blip) would otherwise find
    // nobody and exit 3: linger a little, answering mr.next with exit, until each has come by.
    const untilMs = Date.now() + limits.exitLingerMs;
    while (Date.now() < untilMs && [...this.knownWorkers].some((w) => !this.toldWorkers.has(w))) {
      for (const c of server.readyConnections()) {
        if (c.peer?.role === "worker" && !this.toldWorkers.has(c.peer.node)) {
          c.send(mapreduceWorker, "mr.exit", { code });
          this.toldWorkers.add(c.peer.node);
        }
      }
      await Bun.sleep(limits.workerPollMs);
    }
    await Bun.sleep(limits.exitNoticeMs); // let the exit messages go out
    await server.stop();
    this.emit("ended", { code, failure: job.failure });
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    await this.o.server.stop();
  }
}
