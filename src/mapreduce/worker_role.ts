// `./node --role worker --connect host:port`: ask the coordinator for a task, run the app's map or
// reduce, report, repeat; exit when told. Start as many as you like, before or after the
// coordinator. A worker whose coordinator stays gone exits non-zero with a clear message.

import type { Grouped, MapTask, NextReply, ReduceTask } from "../../protocols/mapreduce.ts";
import { formatAddress } from "../cli/address.ts";
import type { RoleSpec } from "../cli/role.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { PeerClient } from "../runtime/peer_client.ts";
import type { MapReduceApp } from "./app.ts";
import { appFor } from "./app_loader.ts";
import { reduceGroups } from "./output.ts";
import { partitionOf } from "./partition.ts";

/** Concurrent mr.fetch requests of one reduce. */
const FETCHES_IN_FLIGHT = 16;

export const workerRole: RoleSpec = {
  name: "worker",
  summary: "MapReduce worker: runs map and reduce tasks for a coordinator (start as many as you like)",
  flags: [{ name: "task-delay-ms", type: "int", valueName: "N", min: 0, max: 60_000, help: "pause this long after each task: simulates a slower machine (demos, labs)" }],
  defaultListen: null,
  needsConnect: true,
  async start(config, flags) {
    const taskDelayMs = flags.int("task-delay-ms", 0);
    const { log } = config;
    let finish!: (code: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));
    let exiting = false;
    let address = formatAddress(config.connect!);
    /** Learnt from the coordinator's replies: where to go when it dies. */
    let backup: string | null = null;
    let client!: PeerClient;

    const exit = (code: number): void => {
      if (exiting) return;
      exiting = true;
      void client.close().then(() => finish(code));
    };

    /** Go to the backup (it takes over when the coordinator is lost), or give up. */
    const failOver = (why: string): void => {
      if (exiting) return;
      if (backup !== null && backup !== address) {
        log.warn("coordinator-lost", { coordinator: address, why, goingTo: backup });
        const old = client;
        connectTo(backup, limits.coordinatorLostMs);
        void old.close();
        return;
      }
      process.stderr.write(`peer-node: worker ${config.id}: the coordinator at ${address} is gone (${why}); exiting\n`);
      exiting = true;
      void client.close().then(() => finish(3));
    };

    function connectTo(target: string, windowMs: number): void {
      address = target;
      const next = PeerClient.forAddress(target, {
        identity: { node: config.id, role: "worker" },
        token: config.token,
        heartbeatMs: config.heartbeatMs,
        frameBytesMax: limits.mapreduceFrameBytesMax,
        // Keep trying for a bounded time: the coordinator may start later, or come back.
        reconnectWindowMs: windowMs,
        log,
      });
      next.handlers.on("mr.exit", (m) => exit(typeof m.code === "number" ? m.code : 0));
      next.handlers.on("mr.backup", (m) => {
        if (typeof m.address === "string") backup = m.address;
      });
      next.on("disconnected", () => {
        if (next === client && backup !== null) failOver("connection lost");
      });
      // Once connected, losing the coordinator gets the short window.
      next.once("ready", () => next.setReconnectWindow(limits.coordinatorLostMs));
      next.on("gave-up", (err) => {
        if (next === client) failOver(err.message);
      });
      client = next;
      void next.connect().catch(() => {
        /* reported through gave-up */
      });
    }

    async function loop(): Promise<void> {
      while (!exiting) {
        let reply: NextReply;
        try {
          await client.ready(limits.coordinatorLostMs * 2);
          reply = await client.request<NextReply>({ op: "mr.next" });
        } catch (err) {
          if (exiting) return;
          log.debug("next-failed", { error: (err as Error).message });
          await Bun.sleep(limits.workerPollMs);
          continue;
        }
        if (reply.backup !== undefined) backup = reply.backup;
        if ("exit" in reply) return exit(0);
        if ("wait" in reply) {
          await Bun.sleep(reply.wait);
          continue;
        }
        const from = client;
        await runTask(from, reply.task).catch((err) => {
          // The coordinator may have reassigned, finished, or gone: the next mr.next sorts it out.
          if (!exiting) log.warn("task-report-failed", { error: (err as Error).message });
        });
        if (taskDelayMs > 0) await Bun.sleep(taskDelayMs);
      }
    }

    async function runTask(link: PeerClient, task: MapTask | ReduceTask): Promise<void> {
      const app = await appFor(task.app);
      try {
        if (task.kind === "map") {
          const partitions = mapTask(app, task);
          await link.request({ op: "mr.mapped", task: task.task, attempt: task.attempt, partitions });
        } else {
          const output = await reduceTask(link, app, task);
          await link.request({ op: "mr.reduced", task: task.task, attempt: task.attempt, output });
        }
      } catch (err) {
        if (err instanceof PeerError) throw err; // the coordinator, not the app
        const error = (err as Error).message ?? String(err);
        await link.request({ op: "mr.failed", kind: task.kind, task: task.task, attempt: task.attempt, error });
      }
    }

    async function reduceTask(link: PeerClient, app: MapReduceApp, task: ReduceTask): Promise<string> {
      // Merge the maps' groups in map order, so each key's values keep the order the maps emitted.
      const merged = new Map<string, string[]>();
      for (let from = 0; from < task.maps; from += FETCHES_IN_FLIGHT) {
        const batch = Array.from({ length: Math.min(FETCHES_IN_FLIGHT, task.maps - from) }, (_, i) =>
          link.request<{ groups: Grouped }>({ op: "mr.fetch", partition: task.task, map: from + i }),
        );
        for (const { groups } of await Promise.all(batch)) {
          for (const [key, values] of groups) {
            const into = merged.get(key);
            if (into === undefined) merged.set(key, values);
            else for (const value of values) into.push(value);
          }
        }
      }
      return reduceGroups(merged, (key, values) => app.reduce(key, values));
    }

    connectTo(address, limits.coordinatorFirstConnectMs);
    try {
      await client.ready(limits.coordinatorFirstConnectMs + 1_000);
    } catch (err) {
      if (!exiting) throw new Error(`cannot reach the coordinator at ${address}: ${(err as Error).message}`);
    }
    void loop();
    return {
      done,
      stop: () => {
        exiting = true; // our own close is not a lost coordinator: no failover
        return client.close();
      },
    };
  },
};

/** Run a map and group its output by partition and key (values in emit order). */
function mapTask(app: MapReduceApp, task: MapTask): Grouped[] {
  const pairs = app.map(task.file, task.contents);
  const partitions: Array<Map<string, string[]>> = Array.from({ length: task.reduces }, () => new Map());
  for (const [key, value] of pairs) {
    const groups = partitions[partitionOf(key, task.reduces)]!;
    const values = groups.get(key);
    if (values === undefined) groups.set(key, [value]);
    else values.push(value);
  }
  return partitions.map((groups) => [...groups]);
}
