// MapReduce benchmark: word count of ~100 MB of generated text with the compiled binary —
// sequential vs 1, 2 and 4 workers (speedup, MB/s), the cost of one worker crash, and the time
// from a coordinator SIGKILL to the backup serving and to the first task it completes.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JobStatus } from "../protocols/mapreduce.ts";
import { killAll, LocalProcess } from "../src/launcher/local_process.ts";
import { generateCorpus } from "../src/mapreduce/demo.ts";
import { queryJobStatus } from "../src/mapreduce/status_query.ts";

export interface MapReduceBenchResult {
  megabytes: number;
  sequentialMs: number;
  runs: Array<{ workers: number; ms: number }>;
  crash: { baseMs: number; crashedMs: number };
  takeover: { servingMs: number; firstTaskMs: number };
}

export async function runMapReduceBench(binary: string, megabytes: number, log: (line: string) => void): Promise<MapReduceBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "peer-node-mrbench-"));
  const launch = { command: [binary], cwd: dir };
  try {
    log(`  generating ${megabytes} MB …`);
    const files = generateCorpus(dir, 16, Math.round((megabytes * 1024 * 1024) / 16));
    const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
    const job = (out: string) => ["--input", "book-*.txt", "--out", out, "--reduces", "8"];

    let t = performance.now();
    const seq = await LocalProcess.start(["mapreduce", "--sequential", ...job("seq")], { ...launch, waitListening: false });
    if ((await seq.exited) !== 0) throw new Error(`sequential run failed: ${seq.stderr.slice(-500)}`);
    const sequentialMs = performance.now() - t;
    log(`  sequential: ${(sequentialMs / 1000).toFixed(1)} s`);

    const distributed = async (workers: number, out: string, crashAt?: number): Promise<number> => {
      const start = performance.now();
      // Timed to the done line (the outputs are final); the coordinator may then linger up to
      // exitLingerMs for a worker it lost (the killed one), which is not job time.
      let doneMs = 0;
      const coord = await LocalProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--log-level", "warn", ...job(out)], { ...launch, onStdout: (text) => void (/^done: /m.test(text) && doneMs === 0 && (doneMs = performance.now())) });
      const ws = await Promise.all(Array.from({ length: workers }, (_, i) => LocalProcess.start(["--role", "worker", "--connect", coord.address, "--id", `w${i}`, "--log-level", "warn"], { ...launch, waitListening: false })));
      if (crashAt !== undefined) {
        for (;;) {
          const s = await queryJobStatus(coord.address);
          if (s !== null && s.mapsDone >= s.maps * crashAt) break;
          await Bun.sleep(20);
        }
        ws[0]!.kill("SIGKILL");
        ws[0] = await LocalProcess.start(["--role", "worker", "--connect", coord.address, "--id", "w0-restarted", "--log-level", "warn"], { ...launch, waitListening: false });
      }
      if ((await coord.exited) !== 0) throw new Error(`distributed run failed: ${coord.stderr.slice(-500)}`);
      await Promise.all(ws.map((w) => w.exited));
      return (doneMs || performance.now()) - start;
    };

    const runs: Array<{ workers: number; ms: number }> = [];
    for (const workers of [1, 2, 4]) {
      const ms = await distributed(workers, `w${workers}`);
      runs.push({ workers, ms });
      log(`  ${workers} worker(s): ${(ms / 1000).toFixed(1)} s`);
    }
    const crashedMs = await distributed(2, "crash", 0.5);
    log(`  2 workers, one SIGKILLed at 50 % of the maps and restarted: ${(crashedMs / 1000).toFixed(1)} s`);

    // Takeover: coordinator + backup + 2 workers; SIGKILL the coordinator at 50 % of the maps.
    const coord = await LocalProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--log-level", "info", ...job("takeover")], launch);
    const backup = await LocalProcess.start(["--role", "backup", "--connect", coord.address, "--listen", "127.0.0.1:0", "--log-level", "warn"], launch);
    await coord.waitForLog("backup-in-sync", 60_000);
    const ws = await Promise.all([0, 1].map((i) => LocalProcess.start(["--role", "worker", "--connect", coord.address, "--id", `t${i}`, "--log-level", "warn"], { ...launch, waitListening: false })));
    let atKill: JobStatus | null = null;
    for (;;) {
      atKill = await queryJobStatus(coord.address);
      if (atKill !== null && atKill.mapsDone >= atKill.maps * 0.5) break;
      await Bun.sleep(20);
    }
    coord.kill("SIGKILL");
    const killedAt = performance.now();
    let servingMs = -1;
    let firstTaskMs = -1;
    while (firstTaskMs < 0 && performance.now() - killedAt < 30_000) {
      const s = await queryJobStatus(backup.address);
      if (s !== null && s.takeovers === 1) {
        if (servingMs < 0) servingMs = performance.now() - killedAt;
        if (s.mapsDone > atKill.mapsDone) firstTaskMs = performance.now() - killedAt;
      }
      await Bun.sleep(5);
    }
    if ((await backup.exited) !== 0) throw new Error(`takeover run failed: ${backup.stderr.slice(-500)}`);
    await Promise.all(ws.map((w) => w.exited));
    log(`  coordinator SIGKILLed at 50 %: backup serving after ${servingMs.toFixed(0)} ms, first task done after ${firstTaskMs.toFixed(0)} ms`);
    return { megabytes: bytes / 1e6, sequentialMs, runs, crash: { baseMs: runs[1]!.ms, crashedMs }, takeover: { servingMs, firstTaskMs } };
  } finally {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
