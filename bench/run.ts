// `npm run bench`: every benchmark of peer-node, in one run so ratios are measured side by side.
// Sections: wire (decoder micro-bench) and broker (vs Redis, NATS, RabbitMQ when reachable).
// `npm run bench -- wire` or `-- broker` runs one section; `--quick` uses fewer messages.

import { runBrokerBench } from "./broker_bench.ts";
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
