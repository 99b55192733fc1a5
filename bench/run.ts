// `npm run bench`: every benchmark of peer-node, in one run so ratios are measured side by side.
// Sections: wire (decoder micro-bench), broker (vs Redis, NATS, RabbitMQ when reachable), mutex,
// mapreduce.
// `npm run bench -- wire` (or broker, mutex) runs one section; `--quick` uses fewer messages.

import { resolve } from "node:path";
import { Progress } from "../src/cli/progress.ts";
import { killAll } from "../src/launcher/local_process.ts";
import { runMutex } from "../src/mutex/run_mutex_command.ts";
import { runBrokerBench } from "./broker_bench.ts";
import { runMapReduceBench } from "./mapreduce_bench.ts";
import { writeBarChart } from "./plot.ts";
import { runWireBench } from "./wire_bench.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const only = args.filter((a) => !a.startsWith("--"));
const wants = (name: string): boolean => only.length === 0 || only.includes(name);

if (wants("wire")) {
  console.log("## wire: frame decoder and encoder (200,000 frames of ~110 bytes, 64 KiB chunks)\n");
  for (const r of runWireBench()) {
    console.log(`${r.name.padEnd(44)} ${(r.framesPerSec / 1e6).toFixed(2).padStart(6)} M frames/s ${r.mbPerSec.toFixed(0).padStart(6)} MB/s`);
  }
  console.log("");
}

if (wants("broker")) {
  const messages = quick ? 50_000 : 200_000;
  console.log(`## broker: InsultFilter workload, ${messages.toLocaleString()} texts of ~85 bytes, one worker process, manual acks\n`);
  const { rows, fanoutPerSec, memory } = await runBrokerBench({ messages, windows: [500, 1000], latencyMessages: quick ? 2_000 : 10_000 });
  console.log("| system | W | msg/s | p50 µs | p99 µs | peer-node ÷ this |");
  console.log("|---|---|---|---|---|---|");
  for (const row of rows) {
    const ours = rows.find((r) => r.system === "peer-node" && r.window === row.window)?.result;
    if (row.result === null) {
      console.log(`| ${row.system} | ${row.window} | ${row.note} | | | |`);
      continue;
    }
    const r = row.result;
    const ratio = ours ? (ours.msgPerSec / r.msgPerSec).toFixed(2) + "×" : "-";
    console.log(`| ${row.system} | ${row.window} | ${Math.round(r.msgPerSec).toLocaleString()} | ${Math.round(r.p50Us)} | ${Math.round(r.p99Us)} | ${ratio} |`);
  }
  console.log(`\nfanout: ${Math.round(fanoutPerSec).toLocaleString()} deliveries/s to 10 subscribers`);
  console.log(`memory: ${memory.settledMb.toFixed(0)} MB RSS with 1,000,000 queued 100-byte messages (${memory.peakMb.toFixed(0)} MB right after loading)`);
  const w500 = rows.filter((r) => r.window === 500 && r.result !== null);
  const svg = writeBarChart("bench/results/broker-throughput.svg", `InsultFilter workload, W=500 (msg/s, higher is better)`, w500.map((r) => ({ label: r.system, value: r.result!.msgPerSec })));
  console.log(`plot: ${svg}`);
}

/** The compiled binary, built once per run: the roles below are measured as users run them. */
let builtBinary: string | null = null;
function compiledBinary(): string {
  if (builtBinary !== null) return builtBinary;
  const binary = resolve(import.meta.dir, "out/peer-node");
  const build = Bun.spawnSync([process.execPath, "build", "--compile", "--minify", resolve(import.meta.dir, "../bin/node.ts"), "--outfile", binary], { stdout: "ignore", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`cannot build the binary for the bench: ${build.stderr.toString()}`);
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
    const progress = new Progress(`  mutex N=${slaves}`, slaves);
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
