// `./node --role backup --connect <coordinator host:port> --listen host:port [--out DIR]`:
// registers with the coordinator and receives its state (each change before the coordinator acts
// on it): the splits, spooled to a local file; where each map's output is; the reduce outputs,
// spooled too. So it holds metadata only in memory. When the coordinator is lost — its connection
// closes or misses heartbeats, and it does not answer again within backupTakeoverAfterMs — the
// backup becomes the coordinator on its own address, once (a second signal is ignored). If the
// coordinator answers again in time (a blip, a pause), the backup registers again and resyncs.
// Until it takes over it serves no MapReduce op: a worker that reaches it goes back to its
// coordinator.

import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mapreduce, mapreduceBackup, type BackupWelcome, type SyncEvent } from "../../protocols/mapreduce.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { formatAddress } from "../runtime/address.ts";
import { ExitError } from "../runtime/exit.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import { RoleLife, type RoleSpec } from "../runtime/role.ts";
import { serve } from "../runtime/serve.ts";
import { Upstream } from "../runtime/upstream.ts";
import { Coordinator } from "./coordinator.ts";
import { showCoordinator } from "./coordinator_role.ts";
import { Job } from "./job.ts";
import { outputPath } from "./output.ts";

/** The backup's copy of the job: metadata in memory, split and output bytes in a spool directory. */
class Mirror {
  readonly job: Job;
  private readonly splitsPath: string;
  private spoolBytes = 0;
  /** Reduce outputs received, by task: their spool files. */
  readonly outputs = new Map<number, string>();
  inSync = false;

  constructor(readonly welcome: BackupWelcome, readonly spool: string) {
    rmSync(spool, { recursive: true, force: true });
    mkdirSync(spool, { recursive: true });
    this.splitsPath = join(spool, "splits");
    writeFileSync(this.splitsPath, "");
    const empty = { file: "", path: this.splitsPath, start: 0, end: 0 };
    this.job = new Job(Array.from({ length: welcome.splits }, () => ({ ...empty })), welcome.reduces, welcome.taskTimeoutMs, limits.taskAttemptsMax);
  }

  apply(event: SyncEvent): void {
    const { job } = this;
    switch (event.event) {
      case "split": {
        const bytes = Buffer.from(event.contents, "utf8");
        appendFileSync(this.splitsPath, bytes);
        job.splits[event.index] = { file: event.file, path: this.splitsPath, start: this.spoolBytes, end: this.spoolBytes + bytes.length };
        this.spoolBytes += bytes.length;
        return;
      }
      case "mapped":
        job.completeMap(event.task, { worker: event.worker, address: event.address, partitionBytes: event.partitionBytes });
        return;
      case "unmapped":
        job.unmap(event.task);
        return;
      case "reduced": {
        const path = join(this.spool, `out-${event.task}`);
        writeFileSync(path, event.output);
        this.outputs.set(event.task, path);
        job.completeReduce(event.task);
        return;
      }
      case "in-sync":
        this.inSync = true;
        return;
    }
  }
}

export const backupRole: RoleSpec = {
  name: "backup",
  summary: "MapReduce backup coordinator: mirrors the coordinator and takes over when it dies",
  flags: [
    { name: "out", type: "string", valueName: "dir", help: "where to write outputs after a takeover (default: the coordinator's --out)" },
    { name: "advertise", type: "string", valueName: "host:port", help: "the address workers are told to reach this backup at (default: its --listen address)" },
  ],
  defaultListen: { host: "127.0.0.1", port: limits.backupPortDefault },
  needsConnect: true,
  frameBytesMax: limits.mapreduceFrameBytesMax,
  async start(config, flags) {
    const { log } = config;
    const startedMs = performance.now();
    const life = new RoleLife();
    const handlers = new HandlerTable(); // serves the coordinator's ops after a takeover
    const server = serve(config, handlers);
    const myAddress = flags.string("advertise") ?? formatAddress({ host: server.host, port: server.port });
    const spool = join(tmpdir(), `peer-node-backup-${config.id}-${process.pid}`);
    let mirror: Mirror | null = null;
    let takingOver = false;
    let coordinator: Coordinator | null = null;
    const cleanUp = (): void => rmSync(spool, { recursive: true, force: true });

    const link = new Upstream({
      addresses: config.connect,
      serves: "mapreduce",
      what: "coordinator",
      identity: { node: config.id, role: "backup" },
      token: config.token,
      heartbeatMs: config.heartbeatMs,
      frameBytesMax: config.frameBytesMax,
      // Losing the coordinator is the signal to take over, but only if it stays lost this long.
      lostWindowMs: limits.backupTakeoverAfterMs,
      log,
      handlers: new HandlerTable().serve(mapreduceBackup, {
        "mr.sync": (event) => {
          if (mirror === null) throw new PeerError("PRECONDITION_FAILED", "mr.sync before the welcome");
          mirror.apply(event);
          if (event.event === "in-sync") log.info("in-sync", { coordinator: link.address, maps: mirror.job.mapsDone, reduces: mirror.job.reducesDone });
          return {};
        },
        "mr.exit": ({ code }) => {
          // The job ended normally: the coordinator wrote the outputs; we are done too.
          life.stopping = true;
          cleanUp();
          void link.close().then(() => server.stop()).then(() => life.end(code));
        },
      }),
    });

    /** Register (again) and ask for the state: the snapshot, then every change as it happens. */
    const register = async (): Promise<void> => {
      let welcome: BackupWelcome;
      for (let tries = 1; ; tries++) {
        try {
          welcome = await link.call(mapreduce, "mr.backup.register", { address: myAddress });
          break;
        } catch (err) {
          // Back after a blip, the coordinator may not have seen our old connection close yet.
          if (!(err instanceof PeerError && err.name === "PRECONDITION_FAILED") || tries >= limits.backupRegisterTriesMax) throw err;
          await Bun.sleep(limits.workerPollMs * 10);
        }
      }
      mirror = new Mirror(welcome, spool);
      log.info("registered", { coordinator: link.address, splits: welcome.splits, reduces: welcome.reduces });
      void link.call(mapreduce, "mr.backup.sync", {}, limits.backupSyncTimeoutMs).catch((err: Error) => log.warn("sync-failed", { error: err.message }));
    };

    const takeOver = async (why: string): Promise<void> => {
      // Both "the connection closed" and "the coordinator stayed lost" can arrive: act once.
      if (takingOver || life.ended) return;
      takingOver = true;
      const m = mirror;
      if (m === null || !m.inSync) {
        await server.stop();
        cleanUp();
        return life.end("upstreamLost", `backup ${config.id}: the coordinator at ${link.address} is gone (${why}) before the backup was in sync; exiting`);
      }
      const lostAtMs = performance.now();
      log.warn("taking-over", { coordinator: link.address, why, maps: m.job.mapsDone, reduces: m.job.reducesDone });
      const outDir = flags.string("out") ?? m.welcome.outDir;
      mkdirSync(outDir, { recursive: true });
      for (const [task, path] of m.outputs) {
        const target = outputPath(outDir, task);
        const temp = `${target}.tmp-${process.pid}`;
        await Bun.write(temp, Bun.file(path));
        await rename(temp, target);
      }
      coordinator = new Coordinator({ job: m.job, outDir, app: m.welcome.app, taskTimeoutMs: m.welcome.taskTimeoutMs, server, handlers, takeovers: m.welcome.takeovers + 1 });
      showCoordinator(coordinator, config, life, startedMs, outDir);
      coordinator.on("ended", cleanUp);
      await coordinator.begin();
      log.info("coordinating", { address: myAddress, tookMs: Math.round(performance.now() - lostAtMs) });
    };
    link.on("lost", (err) => void takeOver(err.name));
    // Back within the window: the coordinator lives; start over as its backup.
    link.on("ready", () => {
      if (mirror === null || takingOver) return;
      log.warn("coordinator-back", { coordinator: link.address });
      register().catch((err: Error) => log.warn("register-failed", { error: err.message }));
    });

    try {
      await link.connect();
      await register();
    } catch (err) {
      await server.stop();
      cleanUp();
      throw new ExitError("startup", `cannot register with the coordinator at ${config.connect.join(", ")}: ${(err as Error).message}`);
    }
    return {
      done: life.done,
      stop: async () => {
        life.stopping = true; // our own close is not a lost coordinator: no takeover
        await link.close();
        await (coordinator?.stop() ?? server.stop());
        cleanUp();
      },
    };
  },
};
