// The reference run: every map and reduce in this one process, with the same splits, partitioning
// and output files (DIR/mr-out-<r>) that the distributed run must reproduce. Memory is bounded
// whatever the input size: splits are read one at a time, and each partition's groups spill to a
// temp dir in sorted runs past their share of --spill-mb (see shuffle.ts).

import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { limits } from "../limits.ts";
import { ExitError } from "../runtime/exit.ts";
import type { MapReduceApp } from "./app.ts";
import { outputPath } from "./output.ts";
import { Accumulator, groupPairs, reduceToFile } from "./shuffle.ts";
import { planSplits, readSplit } from "./splits.ts";

export interface SequentialOptions {
  files: string[];
  outDir: string;
  reduces: number;
  app: MapReduceApp;
  /** Bytes of groups held in memory (all partitions together) before they spill to disk. */
  spillBytes: number;
  /** Target bytes of a split (default limits.splitBytesMax). */
  splitBytes?: number;
  onProgress?: (mapped: number, total: number) => void;
}

export async function runSequential(options: SequentialOptions): Promise<{ keys: number; outputs: string[]; splits: number; spills: number }> {
  const { reduces, app } = options;
  const splits = await planSplits(options.files, options.splitBytes ?? limits.splitBytesMax);
  const work = mkdtempSync(join(tmpdir(), "peer-node-seq-"));
  try {
    const partitions = Array.from({ length: reduces }, (_, r) => new Accumulator(app, Math.max(1, Math.floor(options.spillBytes / reduces)), work, `p${r}`));
    for (let i = 0; i < splits.length; i++) {
      const split = splits[i]!;
      let pairs: ReturnType<MapReduceApp["map"]>;
      try {
        pairs = app.map(split.file, await readSplit(split));
      } catch (err) {
        throw new ExitError("jobFailed", `map of ${split.file} (bytes ${split.start}..${split.end}) failed: ${(err as Error).message}`);
      }
      // Grouped (and combined) per split first, as a map task does: one add per key, not per pair.
      groupPairs(app, pairs, reduces).forEach((groups, r) => {
        for (const [key, values] of groups) partitions[r]!.add(key, values);
      });
      options.onProgress?.(i + 1, splits.length);
    }
    await mkdir(options.outDir, { recursive: true });
    const outputs: string[] = [];
    let keys = 0;
    let spills = 0;
    for (let r = 0; r < reduces; r++) {
      const path = outputPath(options.outDir, r);
      const temp = `${path}.tmp-${process.pid}`;
      try {
        spills += partitions[r]!.spills;
        keys += reduceToFile(app, partitions[r]!.merged(), temp).keys;
      } catch (err) {
        throw new ExitError("jobFailed", `reduce of partition ${r} failed: ${(err as Error).message}`);
      }
      await rename(temp, path);
      outputs.push(path);
    }
    return { keys, outputs, splits: splits.length, spills };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
