// `npm run bench -- storage`: peer-node's storage (3 nodes, linearizable mode; gossip mode beside it)
// against a 3-member etcd 3.4 cluster, side by side in one run, systems alternating per repetition.
// Both are driven from this Bun process with the same concurrency (64 ops in flight) and the client
// each one's users run: etcd3 (the npm gRPC client, one channel per member) for etcd, our
// StorageClient for peer-node. Ops: write, linearizable read, and a conditional update after a read
// (etcd: get, then a txn comparing mod_revision; peer-node: read, then updateIfValueIs).
// Durability: "fsync" runs both on disk with their defaults (etcd fsyncs its WAL; peer-node group
// commit with fdatasync). "no fsync": etcd 3.4 has no --unsafe-no-fsync (3.5 added it), so its data
// dirs go on tmpfs (/dev/shm), where fsync costs nothing — the same effect; peer-node runs --fsync off
// with its data dirs on tmpfs too.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, LocalProcess } from "../src/launcher/local_process.ts";
import { StorageClient } from "../src/storage/storage_client.ts";
import { median, rangeText } from "./broker_bench.ts";
import { tcpOpen } from "./systems/system.ts";

export type StorageOp = "write" | "read" | "cas";
export const storageOps: StorageOp[] = ["write", "read", "cas"];

export interface OpResult {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Conditional updates that applied (the rest lost a race; both systems count the same way). */
  applied?: number;
  /** Ops that failed (at most 1 %, or the cell fails). */
  errors?: number;
}

/** One system under test, started fresh for each repetition and durability. */
interface Target {
  name: string;
  run(op: StorageOp, count: number, inFlight: number): Promise<OpResult>;
  stop(): Promise<void>;
}

const VALUE = "v".repeat(100);
/** Keys the ops cycle through (op n works on key n mod KEYS): every read and update finds its key. */
const KEYS = 1_024;

/**
 * Run `count` ops with `inFlight` concurrent loops; `one(n)` does op n. An op that fails is
 * counted, not retried (the clients retry what they retry by themselves).
 */
async function drive(count: number, inFlight: number, one: (n: number) => Promise<boolean | void>): Promise<OpResult> {
  const latencies: number[] = [];
  let next = 0;
  let applied = 0;
  let errors = 0;
  let firstError = "";
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) {
      const n = next++;
      const t0 = performance.now();
      try {
        if ((await one(n)) === true) applied++;
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ||= (err as Error).message;
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  if (errors > count / 100) throw new Error(`${errors} of ${count} ops failed, the first: ${firstError}`);
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { opsPerSec: latencies.length / seconds, p50Ms: at(0.5), p99Ms: at(0.99), applied, errors };
}

const keyOf = (n: number): string => `bench-${n % KEYS}`;

/** etcd from Debian's etcd-server package; installed with apt-get when missing and possible. */
export function ensureEtcd(): string | null {
  const found = spawnSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).stdout.trim();
  if (found) return found;
  if (spawnSync("sh", ["-c", "command -v apt-get"]).status !== 0) return null;
  process.stderr.write("etcd not found: apt-get install -y etcd-server …\n");
  const install = (): boolean => spawnSync("apt-get", ["install", "-y", "-q", "etcd-server"], { stdio: "ignore" }).status === 0;
  if (!install()) {
    spawnSync("apt-get", ["update", "-q"], { stdio: "ignore" });
    if (!install()) return null;
  }
  return spawnSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).stdout.trim() || null;
}

async function startEtcd(etcd: string, baseDir: string): Promise<Target> {
  const names = ["e1", "e2", "e3"];
  const clientPorts = names.map(() => freePort());
  const peerPorts = names.map(() => freePort());
  const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${peerPorts[i]}`).join(",");
  const token = `bench-${Date.now()}`; // the same for all three, or each forms its own cluster
  const procs = await Promise.all(names.map((name, i) => LocalProcess.start([
    "--name", name, "--data-dir", join(baseDir, name),
    "--listen-client-urls", `http://127.0.0.1:${clientPorts[i]}`, "--advertise-client-urls", `http://127.0.0.1:${clientPorts[i]}`,
    "--listen-peer-urls", `http://127.0.0.1:${peerPorts[i]}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peerPorts[i]}`,
    "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", token,
    "--log-level", "error", "--logger", "zap",
  ], { command: [etcd], waitListening: false })));
  const { Etcd3 } = await import("etcd3");
  // A gRPC call made before the members listen can wait for ever: wait for the ports, then for a
  // put to succeed, each try bounded and on a fresh client.
  const deadline = Date.now() + 30_000;
  const timeLeft = (): number => {
    if (Date.now() > deadline) throw new Error(`etcd did not come up within 30 s; e1 said: ${procs[0]!.stderr.slice(-300).replace(/\s+/g, " ")}`);
    return deadline - Date.now();
  };
  for (const port of clientPorts) {
    while (!(await tcpOpen("127.0.0.1", port))) {
      timeLeft();
      await Bun.sleep(100);
    }
  }
  let client: InstanceType<typeof Etcd3>;
  for (;;) {
    client = new Etcd3({ hosts: clientPorts.map((p) => `http://127.0.0.1:${p}`) });
    const ok = await Promise.race([client.put("bench-ready").value("1").then(() => true, () => false), Bun.sleep(Math.min(2_000, timeLeft())).then(() => false)]);
    if (ok) break;
    client.close();
    await Bun.sleep(200);
  }
  return {
    name: "etcd 3.4",
    async run(op, count, inFlight) {
      if (op === "write") return drive(count, inFlight, async (n) => void (await client.put(keyOf(n)).value(VALUE)));
      if (op === "read") return drive(count, inFlight, async (n) => void (await client.get(keyOf(n)).string())); // linearizable by default
      return drive(count, inFlight, async (n) => {
        const key = keyOf(n);
        const got = await client.get(key).exec();
        const modRevision = got.kvs[0]?.mod_revision ?? "0";
        const txn = await client.if(key, "Mod", "==", modRevision).then(client.put(key).value(`${VALUE}${n}`)).commit();
        return txn.succeeded;
      });
    },
    async stop() {
      client.close();
      for (const p of procs) p.kill("SIGKILL");
      await Promise.all(procs.map((p) => p.exited));
    },
  };
}

async function startPeerNode(binary: string, baseDir: string, consistency: "linearizable" | "gossip", fsync: boolean): Promise<Target> {
  const ids = ["s1", "s2", "s3"];
  const ports = ids.map(() => freePort());
  const procs = await Promise.all(ids.map((id, i) => LocalProcess.start([
    "--role", "storage", "--id", id, "--listen", `127.0.0.1:${ports[i]}`,
    "--peers", ids.filter((_, j) => j !== i).map((other, _k) => `${other}@127.0.0.1:${ports[ids.indexOf(other)]}`).join(","),
    "--data-dir", join(baseDir, id), "--consistency", consistency, "--fsync", fsync ? "on" : "off",
  ], { command: [binary] })));
  const client = await StorageClient.connect({ addresses: ports.map((p) => `127.0.0.1:${p}`), timeoutMs: 10_000, retriesMax: 50 });
  // Every shard must have a leader before timing starts (the first write of each waits for it).
  const deadline = Date.now() + 30_000;
  for (let shardKey = 0; shardKey < 64; shardKey++) {
    for (;;) {
      try {
        await client.write(`bench-warm-${shardKey}`, "1");
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`peer-node storage did not come up: ${(err as Error).message}`);
        await Bun.sleep(100);
      }
    }
  }
  return {
    name: consistency === "linearizable" ? "peer-node" : "peer-node gossip",
    async run(op, count, inFlight) {
      if (op === "write") return drive(count, inFlight, async (n) => void (await client.write(keyOf(n), VALUE)));
      if (op === "read") return drive(count, inFlight, async (n) => void (await client.read(keyOf(n))));
      return drive(count, inFlight, async (n) => {
        const key = keyOf(n);
        const current = (await client.read(key)).value;
        return (await client.updateIfValueIs(key, `${VALUE}${n}`, current)).applied;
      });
    },
    async stop() {
      await client.close();
      for (const p of procs) p.kill("SIGKILL");
      await Promise.all(procs.map((p) => p.exited));
    },
  };
}

export interface StorageCell {
  system: string;
  durability: "fsync" | "no fsync";
  op: StorageOp;
  runs: OpResult[];
  note?: string;
}

export interface StorageBenchOptions {
  binary: string;
  count: number;
  inFlight: number;
  reps: number;
  onStatus?: (line: string) => void;
}

/**
 * For each durability, `reps` repetitions; in each, the systems in rotating order, each started
 * fresh, then write, read and conditional update in that order (reads and updates find the keys).
 */
export async function runStorageBench(o: StorageBenchOptions): Promise<StorageCell[]> {
  const etcd = ensureEtcd();
  const cells: StorageCell[] = [];
  const cell = (system: string, durability: StorageCell["durability"], op: StorageOp): StorageCell => {
    let c = cells.find((x) => x.system === system && x.durability === durability && x.op === op);
    if (!c) cells.push((c = { system, durability, op, runs: [] }));
    return c;
  };
  type Starter = { name: string; start: (dir: string, fsync: boolean) => Promise<Target>; ops: StorageOp[] };
  const systems: Starter[] = [
    { name: "peer-node", start: (dir, fsync) => startPeerNode(o.binary, dir, "linearizable", fsync), ops: storageOps },
    { name: "etcd 3.4", start: (dir) => startEtcd(etcd!, dir), ops: storageOps },
    // Gossip mode's writes beside them (its reads and updates are not comparable: not linearizable).
    { name: "peer-node gossip", start: (dir, fsync) => startPeerNode(o.binary, dir, "gossip", fsync), ops: ["write"] },
  ];
  if (etcd === null) for (const op of storageOps) for (const d of ["fsync", "no fsync"] as const) cell("etcd 3.4", d, op).note = "etcd not installed and apt-get unavailable: skipped";
  for (const durability of ["fsync", "no fsync"] as const) {
    const root = durability === "fsync" ? tmpdir() : existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
    for (let rep = 0; rep < o.reps; rep++) {
      const order = systems.map((_, i) => systems[(i + rep) % systems.length]!);
      for (const s of order) {
        if (s.name === "etcd 3.4" && etcd === null) continue;
        const dir = mkdtempSync(join(root, "peer-node-storage-bench-"));
        mkdirSync(dir, { recursive: true });
        let target: Target | null = null;
        try {
          target = await s.start(dir, durability === "fsync");
          await target.run("write", KEYS, o.inFlight); // every key exists before anything is timed
          for (const op of s.ops) {
            o.onStatus?.(`${durability}, rep ${rep + 1}/${o.reps}: ${s.name} ${op}`);
            cell(s.name, durability, op).runs.push(await target.run(op, o.count, o.inFlight));
          }
        } catch (err) {
          for (const op of s.ops) cell(s.name, durability, op).note = `failed: ${(err as Error).message.split("\n")[0]}`;
        } finally {
          await target?.stop().catch(() => {});
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  }
  return cells;
}

/** Markdown table: per durability and op, each system's median (range) ops/s, p50, p99, and peer-node ÷ etcd. */
export function formatStorageTable(cells: StorageCell[]): string[] {
  const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
  const lines = ["| durability | op | system | ops/s, median (range) | p50 ms | p99 ms | peer-node ÷ etcd, median (range) |", "|---|---|---|---|---|---|---|"];
  for (const durability of ["fsync", "no fsync"] as const) {
    for (const op of storageOps) {
      const etcd = cells.find((c) => c.system === "etcd 3.4" && c.durability === durability && c.op === op);
      for (const c of cells.filter((x) => x.durability === durability && x.op === op)) {
        if (c.runs.length === 0) {
          lines.push(`| ${durability} | ${op} | ${c.system} | ${c.note ?? "no runs"} | | | |`);
          continue;
        }
        const rates = c.runs.map((r) => r.opsPerSec);
        // Ratios pair repetition i of each system (run next to each other in the same repetition).
        const ratios = c.system !== "etcd 3.4" && etcd && etcd.runs.length > 0 ? rates.slice(0, etcd.runs.length).map((r, i) => r / etcd.runs[i]!.opsPerSec) : [];
        lines.push(`| ${durability} | ${op} | ${c.system} | ${fmt(median(rates))}${rangeText(rates.map(Math.round))} | ${median(c.runs.map((r) => r.p50Ms)).toFixed(1)} | ${median(c.runs.map((r) => r.p99Ms)).toFixed(1)} | ${ratios.length > 0 ? `${median(ratios).toFixed(2)}×${rangeText(ratios, 2)}` : "-"} |`);
      }
    }
  }
  return lines;
}
