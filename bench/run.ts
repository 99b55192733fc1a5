// `npm run bench`: every benchmark of peer-node, in one run so ratios are measured side by side.
// Sections: wire (decoder micro-bench), broker (vs Redis, NATS, RabbitMQ when reachable), mutex,
// mapreduce, storage (vs etcd).
// `npm run bench -- wire` (or broker, mutex, storage) runs one section; `--quick` uses fewer messages.

import { resolve } from "node:path";
import { Terminal } from "../src/runtime/terminal.ts";
import { killAll } from "../src/launcher/local_process.ts";
import { runMutex } from "../src/mutex/run_mutex.ts";
import { median, rangeText, ratios, runBrokerBench } from "./broker_bench.ts";
import { runMapReduceBench } from "./mapreduce_bench.ts";
import { runBigMapReduce } from "./mapreduce_big_bench.ts";
import { writeBarChart } from "./plot.ts";
import { compileNode } from "../scripts/compile.ts";
import { formatStorageTable, runStorageBench } from "./storage_bench.ts";
import { runWireBench } from "./wire_bench.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
/** `--name value` from the command line. */
const flag = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const flagValues = new Set(["reps", "systems", "ops"].map((name) => flag(name)).filter((v): v is string => v !== undefined));
const only = args.filter((a) => !a.startsWith("--") && !flagValues.has(a));
const wants = (name: string): boolean => only.length === 0 || only.includes(name);
/** Sections too long for the default run: only when named. */
const wantsNamed = (name: string): boolean => only.includes(name);
const terminal = new Terminal();

if (wants("wire")) {
  console.log("## wire: frame decoder and encoder (200,000 frames of ~110 bytes, 64 KiB chunks)\n");
  for (const r of runWireBench()) {
    console.log(`${r.name.padEnd(44)} ${(r.framesPerSec / 1e6).toFixed(2).padStart(6)} M frames/s ${r.mbPerSec.toFixed(0).padStart(6)} MB/s`);
  }
  console.log("");
}

if (wants("broker")) {
  const messages = quick ? 50_000 : 200_000;
  const reps = Number(flag("reps") ?? (quick ? 1 : 3));
  const systemsOnly = flag("systems")?.split(",");
  console.log(`## broker: InsultFilter workload, ${messages.toLocaleString()} texts of ~85 bytes, one worker process, ${reps} repetition(s) with the systems' order rotating\n`);
  const { cells, systems, fanoutPerSec, memory } = await runBrokerBench({ messages, windows: [500, 1000], latencyMessages: quick ? 2_000 : 10_000, reps, only: systemsOnly });
  console.log("How each system is driven:\n");
  for (const system of systems) console.log(`- **${system.name}**: ${system.clients}`);
  const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
  for (const window of [500, 1000, 1]) {
    console.log(`\n### W = ${window}\n`);
    console.log("| system | msg/s, median (range) | p50 µs | p99 µs | peer-node ÷ this, median (range) | CPU s per 100k: server / worker / client |");
    console.log("|---|---|---|---|---|---|");
    const peer = cells.find((c) => c.system === "peer-node" && c.window === window);
    for (const c of cells.filter((x) => x.window === window)) {
      if (c.runs.length === 0) {
        console.log(`| ${c.system} | ${c.note ?? "no runs"} | | | | |`);
        continue;
      }
      const rates = c.runs.map((r) => r.msgPerSec);
      const r = ratios(peer, c);
      const server = c.runs.map((x) => x.cpu.server).filter((x): x is number => x !== null);
      const cpu = `${server.length > 0 ? median(server).toFixed(2) : "?"} / ${median(c.runs.map((x) => x.cpu.worker)).toFixed(2)} / ${median(c.runs.map((x) => x.cpu.client)).toFixed(2)}`;
      console.log(`| ${c.system} | ${fmt(median(rates))}${rangeText(rates.map(Math.round))} | ${fmt(median(c.runs.map((x) => x.p50Us)))} | ${fmt(median(c.runs.map((x) => x.p99Us)))} | ${r.length > 0 ? `${median(r).toFixed(2)}×${rangeText(r, 2)}` : "-"} | ${cpu} |`);
    }
  }
  console.log(`\nfanout: ${fmt(fanoutPerSec)} deliveries/s to 10 subscribers`);
  console.log(`memory: ${memory.settledMb.toFixed(0)} MB RSS with 1,000,000 queued 100-byte messages (${memory.peakMb.toFixed(0)} MB right after loading)`);
  for (const window of [500, 1000]) {
    const bars = cells.filter((c) => c.window === window && c.runs.length > 0).map((c) => ({ label: c.system, value: median(c.runs.map((r) => r.msgPerSec)) }));
    console.log(`plot: ${writeBarChart(`bench/results/broker-throughput-w${window}.svg`, `InsultFilter workload, W=${window}: median msg/s (higher is better)`, bars)}`);
  }
}

/** The compiled binary, built once per run: the roles below are measured as users run them. */
let builtBinary: string | null = null;
function compiledBinary(): string {
  if (builtBinary !== null) return builtBinary;
  const binary = resolve(import.meta.dir, "out/peer-node");
  compileNode(binary, { minify: true });
  return (builtBinary = binary);
}

if (wants("mutex")) {
  const sizes = quick ? [17, 100] : [17, 100, 500];
  // Measure what users run: `./node run mutex` relaunches the compiled binary (no per-process transpile).
  const binary = compiledBinary();
  console.log(`\n## mutex: leader (hosting the broker) + N slave processes of the compiled binary, all local; protocol = first start to last append\n`);
  console.log("| slaves | total ms (incl. process start) | protocol ms | identical |");
  console.log("|---|---|---|---|");
  const bars: Array<{ label: string; value: number }> = [];
  for (const slaves of sizes) {
    const progress = terminal.progress(`  mutex N=${slaves}`, slaves);
    const result = await runMutex({ slaves, command: [binary], onProgress: (n) => progress.update(n) });
    progress.finish();
    await killAll();
    console.log(`| ${slaves} | ${result.elapsedMs} | ${result.protocolMs} | ${result.identical && result.lists.length === slaves ? "yes" : "NO"} |`);
    bars.push({ label: `N=${slaves} total`, value: result.elapsedMs }, { label: `N=${slaves} protocol`, value: result.protocolMs });
  }
  console.log(`plot: ${writeBarChart("bench/results/mutex-times.svg", "Mutual exclusion round, ms (lower is better)", bars)}`);
}

if (wants("mapreduce")) {
  const megabytes = quick ? 20 : 100;
  console.log(`\n## mapreduce: word count of ${megabytes} MB of generated text, R = 8, compiled binary, 2 cores\n`);
  const r = await runMapReduceBench(compiledBinary(), megabytes, (line) => process.stderr.write(line + "\n"));
  console.log("| run | seconds | MB/s | speedup vs sequential |");
  console.log("|---|---|---|---|");
  console.log(`| sequential (one process) | ${(r.sequentialMs / 1000).toFixed(1)} | ${(r.megabytes / (r.sequentialMs / 1000)).toFixed(1)} | 1.00× |`);
  for (const run of r.runs) console.log(`| ${run.workers} worker(s) + coordinator | ${(run.ms / 1000).toFixed(1)} | ${(r.megabytes / (run.ms / 1000)).toFixed(1)} | ${(r.sequentialMs / run.ms).toFixed(2)}× |`);
  const overhead = (r.crash.crashedMs / r.crash.baseMs - 1) * 100;
  console.log(`\none worker SIGKILLed at 50 % of the maps (2 workers, restarted): ${(r.crash.crashedMs / 1000).toFixed(1)} s vs ${(r.crash.baseMs / 1000).toFixed(1)} s: overhead ${overhead.toFixed(0)} % (target < 20 %)`);
  console.log(`coordinator SIGKILLed at 50 %: backup serving after ${r.takeover.servingMs.toFixed(0)} ms, first task completed after ${r.takeover.firstTaskMs.toFixed(0)} ms (target < 2000 ms)`);
  console.log(`plot: ${writeBarChart("bench/results/mapreduce-speedup.svg", `Word count of ${megabytes} MB: seconds (lower is better)`, [{ label: "sequential", value: r.sequentialMs / 1000 }, ...r.runs.map((run) => ({ label: `${run.workers} worker(s)`, value: run.ms / 1000 }))])}`);
}

if (wantsNamed("mapreduce-1g")) {
  const megabytes = quick ? 100 : 1024;
  console.log(`\n## mapreduce-1g: word count of ${megabytes} MB, sequential vs coordinator + backup + 2 workers, compiled binary\n`);
  const progress = terminal.progress("mapreduce-1g", 1);
  const r = await runBigMapReduce(compiledBinary(), megabytes, (line) => process.stderr.write(line + "\n"), (line) => progress.update(0, line));
  progress.finish();
  console.log("| run | seconds | MB/s | peak RSS |");
  console.log("|---|---|---|---|");
  console.log(`| --sequential (spill ${r.spillMb} MB) | ${(r.sequential.ms / 1000).toFixed(1)} | ${(r.megabytes / (r.sequential.ms / 1000)).toFixed(1)} | ${r.sequential.peakMb.toFixed(0)} MB |`);
  console.log(`| coordinator + backup + 2 workers | ${(r.distributed.ms / 1000).toFixed(1)} | ${(r.megabytes / (r.distributed.ms / 1000)).toFixed(1)} | coordinator ${r.distributed.coordinatorPeakMb.toFixed(0)} MB, backup ${r.distributed.backupPeakMb.toFixed(0)} MB, workers ${r.distributed.workerPeakMb.map((m) => m.toFixed(0)).join(" / ")} MB |`);
  console.log(`\n${r.splits} splits, ${r.keys.toLocaleString("en-US")} keys; outputs ${r.equal ? "equal" : "DIFFERENT"}; speedup ${(r.sequential.ms / r.distributed.ms).toFixed(2)}× on 2 cores`);
}

if (wants("storage")) {
  const count = Number(flag("ops") ?? (quick ? 3_000 : 20_000));
  const reps = Number(flag("reps") ?? (quick ? 1 : 3));
  const inFlight = 64;
  console.log(`\n## storage: 3 nodes each, ${count.toLocaleString("en-US")} ops per cell, ${inFlight} in flight, ${reps} repetition(s) with the systems' order rotating\n`);
  const progress = terminal.progress("storage", 1);
  const cells = await runStorageBench({ binary: compiledBinary(), count, inFlight, reps, onStatus: (line) => progress.update(0, line) });
  progress.finish();
  for (const line of formatStorageTable(cells)) console.log(line);
  for (const durability of ["fsync", "no fsync"] as const) {
    const bars = cells.filter((c) => c.durability === durability && c.runs.length > 0).map((c) => ({ label: `${c.system} ${c.op}`, value: median(c.runs.map((r) => r.opsPerSec)) }));
    console.log(`plot: ${writeBarChart(`bench/results/storage-${durability.replace(" ", "-")}.svg`, `3-node storage, 64 in flight, ${durability}: median ops/s (higher is better)`, bars)}`);
  }
}
