// The coordinator's work, for the coordinator role and for a backup that took over: answer the
// workers (tasks, intermediate data, results), write outputs atomically, mirror every completed
// result to a backup before acknowledging it, and end the job (outputs final → workers told to
// exit → exit).

import { mkdir } from "node:fs/promises";
import type { AppSpec, BackupWelcome, JobStatus, Mapped, NextReply, Reduced, SyncEvent, TaskFailed } from "../../protocols/mapreduce.ts";
import { Progress } from "../cli/progress.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Connection } from "../runtime/connection.ts";
import type { HandlerTable } from "../runtime/handlers.ts";
import type { Logger } from "../runtime/log.ts";
import type { NodeServer } from "../runtime/node_server.ts";
import { crashNow, failpoint } from "../failpoints.ts";
import { int, str } from "../wire/fields.ts";
import type { Job } from "./job.ts";
import { outputPath, writeAtomic } from "./output.ts";

export interface CoordinatorOptions {
  job: Job;
  outDir: string;
  app: AppSpec;
  taskTimeoutMs: number;
  server: NodeServer;
  handlers: HandlerTable;
  log: Logger;
  /** Takeovers so far (0 for the first coordinator). */
  takeovers: number;
  startedMs: number;
}

const crashAfterMaps = failpoint("coordinator-crash-after-maps");

export class Coordinator {
  /** Resolves with the exit code when the job ends. */
  readonly done: Promise<number>;
  private finish!: (code: number) => void;
  private ending = false;
  private backup: { connection: Connection; address: string; inSync: boolean; streaming: boolean } | null = null;
  private readonly status: ReturnType<typeof setInterval>;
  private readonly progress: Progress;

  constructor(private readonly o: CoordinatorOptions) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    const { job, handlers, server } = o;
    const splits = job.splits.length;
    handlers
      .on("mr.next", (_m, c) => this.next(c))
      .on("mr.mapped", async (m) => {
        const { partitions } = m as unknown as Mapped;
        const task = int(m, "task", 0, splits - 1);
        if (!Array.isArray(partitions) || partitions.length !== job.reduceCount) throw new PeerError("BAD_ARGUMENT", `"partitions" must hold ${job.reduceCount} arrays`);
        if (job.isDone("map", task)) return;
        await this.mirror({ event: "mapped", task, partitions });
        job.completeMap(task, partitions);
        // Test failpoint: die right after the K-th map is recorded (and mirrored), mid-job.
        if (crashAfterMaps !== undefined && job.mapsDone >= Number(crashAfterMaps)) setImmediate(crashNow);
      })
      .on("mr.fetch", (m) => {
        const map = int(m, "map", 0, splits - 1);
        const data = job.intermediate[map];
        if (data === null || data === undefined) throw new PeerError("NOT_FOUND", `map ${map} has no output yet`);
        return { groups: data[int(m, "partition", 0, job.reduceCount - 1)] ?? [] };
      })
      .on("mr.reduced", async (m) => {
        const { output } = m as unknown as Reduced;
        const task = int(m, "task", 0, job.reduceCount - 1);
        if (typeof output !== "string") throw new PeerError("BAD_ARGUMENT", `"output" must be a string`);
        if (job.isDone("reduce", task)) return; // a duplicate from a reissued task: the first won
        await this.mirror({ event: "reduced", task, output });
        await writeAtomic(outputPath(o.outDir, task), output);
        if (job.completeReduce(task) && job.finished) void this.end();
      })
      .on("mr.failed", (m) => {
        const { kind, task, attempt, error } = m as unknown as TaskFailed;
        o.log.warn("task-failed", { kind, task, attempt, error });
        job.failed(kind === "reduce" ? "reduce" : "map", task, attempt, String(error));
        if (job.failure !== null) void this.end();
      })
      .on("mr.backup.register", (m, c) => this.registerBackup(str(m, "address"), c))
      .on("mr.backup.sync", async (_m, c) => {
        await this.streamSnapshot(c);
      })
      .on("mr.status", (): JobStatus => ({
        maps: splits, mapsDone: job.mapsDone, reduces: job.reduceCount, reducesDone: job.reducesDone,
        workers: this.workerCount(), reassignments: job.reassignments, retries: job.retries, takeovers: o.takeovers,
      }));

    server.on("closed", (c) => {
      if (c === this.backup?.connection) {
        o.log.warn("backup-lost", { backup: this.backup.address });
        this.backup = null;
        return;
      }
      if (c.peer?.role !== "worker" || this.ending) return;
      const released = job.workerLost(c.peer.node);
      if (released > 0) o.log.warn("worker-lost", { worker: c.peer.node, tasksReleased: released });
    });

    this.progress = new Progress("mapreduce", splits + job.reduceCount);
    this.status = setInterval(() => this.showProgress(), 250);
  }

  /** Start serving: outputs already complete (after a takeover) are written; maybe the job is done. */
  async begin(): Promise<void> {
    await mkdir(this.o.outDir, { recursive: true });
    if (this.o.job.finished) await this.end();
  }

  private next(c: Connection): NextReply {
    const { job } = this.o;
    const backup = this.backup?.inSync ? { backup: this.backup.address } : {};
    const next = job.next(c.peer?.node ?? "?", Date.now());
    if ("finished" in next) return { exit: true, ...backup };
    if ("wait" in next) return { wait: limits.workerPollMs, ...backup };
    if (next.kind === "map") {
      const split = job.splits[next.task]!;
      return { task: { kind: "map", task: next.task, attempt: next.attempt, file: split.file, contents: split.contents, reduces: job.reduceCount, app: this.o.app }, ...backup };
    }
    return { task: { kind: "reduce", task: next.task, attempt: next.attempt, app: this.o.app, maps: job.splits.length }, ...backup };
  }

  /** A backup registers: it gets the job's shape; it asks for the state (mr.backup.sync) once ready for it. */
  private registerBackup(address: string, c: Connection): BackupWelcome {
    if (this.backup !== null && this.backup.connection.isOpen) throw new PeerError("PRECONDITION_FAILED", `a backup is already registered (${this.backup.address})`);
    this.backup = { connection: c, address, inSync: false, streaming: false };
    this.o.log.info("backup-registered", { backup: address });
    const { job } = this.o;
    return { splits: job.splits.length, reduces: job.reduceCount, outDir: this.o.outDir, app: this.o.app, taskTimeoutMs: this.o.taskTimeoutMs, takeovers: this.o.takeovers };
  }

  /**
   * Send the state as mr.sync requests: splits, completed maps, completed reduces, then "in-sync".
   * Live completions are mirrored from the first of these on, and the connection keeps them in
   * order, so the backup never misses one. The reply goes out once the backup is in sync.
   */
  private async streamSnapshot(c: Connection): Promise<void> {
    const backup = this.backup;
    if (backup === null || backup.connection !== c) throw new PeerError("PRECONDITION_FAILED", "register first (mr.backup.register)");
    backup.streaming = true;
    const { job } = this.o;
    for (let index = 0; index < job.splits.length; index++) {
      const { file, contents } = job.splits[index]!;
      await c.request({ op: "mr.sync", event: "split", index, file, contents });
    }
    for (let task = 0; task < job.splits.length; task++) {
      const partitions = job.intermediate[task];
      if (partitions) await c.request({ op: "mr.sync", event: "mapped", task, partitions });
    }
    for (let task = 0; task < job.reduceCount; task++) {
      if (job.isDone("reduce", task)) await c.request({ op: "mr.sync", event: "reduced", task, output: await Bun.file(outputPath(this.o.outDir, task)).text() });
    }
    await c.request({ op: "mr.sync", event: "in-sync" });
    backup.inSync = true;
    // Tell every worker now, not on its next mr.next: one busy with a long task must still know
    // where to go if we die before it asks again.
    for (const w of this.o.server.readyConnections()) if (w.peer?.role === "worker") w.send({ op: "mr.backup", address: backup.address });
    this.o.log.info("backup-in-sync", { backup: backup.address });
  }

  /** The backup applies a completed result before we act on it. Without a backup, nothing to wait for. */
  private async mirror(event: SyncEvent): Promise<void> {
    const backup = this.backup;
    if (backup === null || !backup.streaming || !backup.connection.isOpen) return;
    try {
      await backup.connection.request({ op: "mr.sync", ...event });
    } catch (err) {
      this.o.log.warn("backup-mirror-failed", { backup: backup.address, error: (err as Error).message });
    }
  }

  private workerCount(): number {
    return this.o.server.readyConnections().filter((c) => c.peer?.role === "worker").length;
  }

  private showProgress(): void {
    const { job } = this.o;
    this.progress.update(job.mapsDone + job.reducesDone, `maps ${job.mapsDone}/${job.splits.length} reduces ${job.reducesDone}/${job.reduceCount} workers ${this.workerCount()} reassigned ${job.reassignments}`);
  }

  /** Outputs are final before anyone is told to exit; then the workers go, then we do. */
  private async end(): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    const { job, server } = this.o;
    clearInterval(this.status);
    this.showProgress();
    this.progress.finish();
    const code = job.failure === null ? 0 : 1;
    for (const c of server.readyConnections()) c.send({ op: "mr.exit", code });
    const seconds = ((performance.now() - this.o.startedMs) / 1000).toFixed(2);
    if (code === 0) {
      process.stdout.write(`done: ${job.splits.length} map and ${job.reduceCount} reduce tasks in ${seconds} s; ${job.reassignments} reassigned, ${job.retries} retried, ${this.o.takeovers} takeover(s); output in ${this.o.outDir}\n`);
    } else {
      process.stderr.write(`peer-node: job failed: ${job.failure}\n`);
    }
    await Bun.sleep(100); // let the exit messages go out
    await server.stop();
    this.finish(code);
  }

  async stop(): Promise<void> {
    clearInterval(this.status);
    await this.o.server.stop();
  }
}

/** Rebuild a job's completed state from mirrored events (the backup side). */
export function applySync(job: Job, event: SyncEvent, outputs: Map<number, string>): void {
  switch (event.event) {
    case "split":
      job.splits[event.index] = { file: event.file, contents: event.contents };
      return;
    case "mapped":
      job.completeMap(event.task, event.partitions);
      return;
    case "reduced":
      outputs.set(event.task, event.output);
      job.completeReduce(event.task);
      return;
    case "in-sync":
      return;
  }
}

