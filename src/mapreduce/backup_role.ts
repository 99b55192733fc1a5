// `./node --role backup --connect <coordinator host:port> --listen host:port [--out DIR]`:
// registers with the coordinator, receives the splits and every completed result (each before the
// coordinator acknowledges it to its worker), and when the coordinator is lost — its connection
// closes, or it misses its heartbeats — becomes the coordinator on its own address. Workers learn
// this address from the coordinator and come over.

import type { BackupWelcome, Sync } from "../../protocols/mapreduce.ts";
import { formatAddress } from "../cli/address.ts";
import type { RoleSpec } from "../cli/role.ts";
import { limits } from "../limits.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import { PeerClient } from "../runtime/peer_client.ts";
import { serve } from "../runtime/serve.ts";
import { applySync, Coordinator } from "./coordinator.ts";
import { Job } from "./job.ts";
import { outputPath, writeAtomic } from "./output.ts";

export const backupRole: RoleSpec = {
  name: "backup",
  summary: "MapReduce backup coordinator: mirrors the coordinator and takes over when it dies",
  flags: [{ name: "out", type: "string", valueName: "dir", help: "where to write outputs after a takeover (default: the coordinator's --out)" }],
  defaultListen: { host: "127.0.0.1", port: 4811 },
  needsConnect: true,
  async start(config, flags) {
    const { log } = config;
    if (!flags.has("frame-bytes-max")) config.frameBytesMax = limits.mapreduceFrameBytesMax;
    const startedMs = performance.now();
    const handlers = new HandlerTable();
    const server = serve(config, handlers);
    const myAddress = formatAddress({ host: server.host, port: server.port });
    const coordinatorAddress = formatAddress(config.connect!);
    let job: Job | null = null;
    let welcome: BackupWelcome | null = null;
    let inSync = false;
    const outputs = new Map<number, string>();
    let coordinator: Coordinator | null = null;
    let finish!: (code: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));

    // Until the takeover, workers that come early are told to wait; the coordinator's ops arrive
    // on the client connection below, not here.
    handlers.on("mr.next", () => ({ wait: limits.workerPollMs * 5 }));
    const passive = new HandlerTable();

    const link = new PeerClient({
      host: config.connect!.host,
      port: config.connect!.port,
      identity: { node: config.id, role: "backup" },
      token: config.token,
      heartbeatMs: config.heartbeatMs,
      frameBytesMax: limits.mapreduceFrameBytesMax,
      reconnect: false,
      handlers: passive,
      log,
    });
    passive.on("mr.sync", (m) => {
      const event = m as unknown as Sync;
      if (job === null) throw new Error("mr.sync before the welcome");
      applySync(job, event, outputs);
      if (event.event === "in-sync") {
        inSync = true;
        log.info("in-sync", { coordinator: coordinatorAddress, maps: job.mapsDone, reduces: job.reducesDone });
      }
    });
    let jobEnded = false;
    let stopping = false;
    passive.on("mr.exit", (m) => {
      // The job ended normally: the coordinator wrote the outputs; we are done too.
      jobEnded = true;
      void link.close().then(() => server.stop()).then(() => finish(typeof m.code === "number" ? m.code : 0));
    });

    const takeOver = async (why: string): Promise<void> => {
      if (coordinator !== null || job === null || welcome === null || jobEnded || stopping) return;
      if (!inSync) {
        process.stderr.write(`peer-node: backup ${config.id}: the coordinator at ${coordinatorAddress} is gone (${why}) before the backup was in sync; exiting\n`);
        await server.stop();
        finish(3);
        return;
      }
      const lostAtMs = performance.now();
      log.warn("taking-over", { coordinator: coordinatorAddress, why, maps: job.mapsDone, reduces: job.reducesDone });
      const outDir = flags.string("out") ?? welcome.outDir;
      for (const [task, text] of outputs) await writeAtomic(outputPath(outDir, task), text);
      handlers.remove("mr.next");
      coordinator = new Coordinator({
        job, outDir, app: welcome.app, taskTimeoutMs: welcome.taskTimeoutMs, server, handlers, log,
        takeovers: welcome.takeovers + 1, startedMs,
      });
      await coordinator.begin();
      log.info("coordinating", { address: myAddress, tookMs: Math.round(performance.now() - lostAtMs) });
      void coordinator.done.then(finish);
    };

    link.on("disconnected", (reason) => void takeOver(reason?.name ?? "closed"));
    link.on("gave-up", (err) => void takeOver(err.name));
    try {
      await link.connect();
      welcome = await link.request<BackupWelcome>({ op: "mr.backup.register", address: myAddress });
    } catch (err) {
      await server.stop();
      throw new Error(`cannot register with the coordinator at ${coordinatorAddress}: ${(err as Error).message}`);
    }
    job = new Job(Array.from({ length: welcome.splits }, () => ({ file: "", contents: "" })), welcome.reduces, welcome.taskTimeoutMs, limits.taskAttemptsMax);
    log.info("registered", { coordinator: coordinatorAddress, splits: welcome.splits, reduces: welcome.reduces });
    // Only now, with somewhere to put it, ask for the state: the snapshot and every later result.
    void link.request({ op: "mr.backup.sync" }, limits.requestTimeoutMs * 6).catch((err: Error) => log.warn("sync-failed", { error: err.message }));
    return {
      done,
      stop: async () => {
        stopping = true; // our own close is not a lost coordinator: no takeover
        await link.close();
        await (coordinator?.stop() ?? server.stop());
      },
    };
  },
};
