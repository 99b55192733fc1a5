// `npm run bench`: every benchmark of peer-node, in one run so ratios are measured side by side.
// Sections: wire (decoder micro-bench) and broker (vs Redis, NATS, RabbitMQ when reachable).
// `npm run bench -- wire` runs one section.

import { runWireBench } from "./wire_bench.ts";

const only = process.argv.slice(2);
const wants = (name: string): boolean => only.length === 0 || only.includes(name);

if (wants("wire")) {
  console.log("## wire: frame decoder and encoder (200,000 frames of ~110 bytes, 64 KiB chunks)");
  for (const r of runWireBench()) {
    console.log(`${r.name.padEnd(44)} ${(r.framesPerSec / 1e6).toFixed(2).padStart(6)} M frames/s ${r.mbPerSec.toFixed(0).padStart(6)} MB/s`);
  }
}
