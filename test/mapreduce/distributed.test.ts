// Goal: a coordinator and workers on separate processes produce exactly the sequential output, like
// the MIT 6.5840 test script: wc and indexer, maps really in parallel, no task run twice without
// failures, no process exiting before the output is final, random worker crashes (workers
// restarted), a paused worker's task reissued after the timeout, a worker cut off by the proxy.
// Method: real processes, files in a temp dir; the sequential run is the reference.

import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/launcher/local_process.ts";
import { queryJobStatus } from "../../src/mapreduce/status_query.ts";
import { ExitCode } from "../../src/runtime/exit.ts";
import { seededRandom } from "../../src/seeded_random.ts";
import { FaultProxy } from "../harness/fault_proxy.ts";
import { readOutputLines } from "../../src/mapreduce/output.ts";
import { NodeProcess, killAll, REPO_ROOT } from "../harness/node_process.ts";
import { connectClient } from "../harness/test_client.ts";
import { waitFor } from "../harness/wait_for.ts";

const dir = mkdtempSync(join(tmpdir(), "peer-node-mrd-"));
const TRACE_APP = join(REPO_ROOT, "test/fixtures/trace_app.ts");
const proxies: FaultProxy[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) p.stop();
  await killAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The output of a job written to `out` under the test's directory. */
const lines = (out: string): string[] => readOutputLines(join(dir, out));

// A deterministic corpus: 6 files, two of them larger than one split (256 KiB).
const WORDS = ["alpha", "beta", "gamma", "delta", "Épée", "naïve", "über", "zeta", "eta", "theta", "iota", "kappa", "lambda", "Mu"];
const rand = seededRandom(7);
for (let f = 0; f < 6; f++) {
  const size = f < 2 ? 600_000 : 20_000;
  let text = "";
  while (text.length < size) text += `${WORDS[rand(WORDS.length)]}${rand(7) === 0 ? `${rand(50)}` : ""} ${rand(9) === 0 ? "\n" : ""}`;
  writeFileSync(join(dir, `pg-${f}.txt`), text);
}


async function sequential(out: string, app: string): Promise<string[]> {
  const node = await NodeProcess.start(["mapreduce", "--sequential", "--input", "pg-*.txt", "--out", out, "--reduces", "5", "--app", app], { waitListening: false, cwd: dir });
  expect(await node.exited).toBe(0);
  return lines(out);
}

async function coordinator(out: string, app: string, extra: string[] = [], env?: Record<string, string>): Promise<NodeProcess> {
  return NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "pg-*.txt", "--out", out, "--reduces", "5", "--app", app, "--heartbeat-ms", "200", ...extra], { cwd: dir, env });
}

function worker(address: string, id: string, env?: Record<string, string>): Promise<NodeProcess> {
  return NodeProcess.start(["--role", "worker", "--connect", address, "--id", id, "--heartbeat-ms", "200"], { waitListening: false, cwd: dir, env });
}

describe("equal to the sequential run", () => {
  for (const app of ["wc", "indexer"]) {
    test(`${app}: 3 workers produce the sequential output; everyone exits 0`, async () => {
      const expected = await sequential(`seq-${app}`, app);
      const coord = await coordinator(`dist-${app}`, app);
      const workers = await Promise.all(["w1", "w2", "w3"].map((id) => worker(coord.address, id)));
      expect(await coord.exited).toBe(0);
      expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0]);
      expect(lines(`dist-${app}`)).toEqual(expected);
      expect(coord.stdout).toMatch(/done: \d+ map and 5 reduce tasks/);
    }, 60_000);
  }
});

describe("like the MIT test script", () => {
  test("map parallelism, job count and early exit: two workers map at once, no map runs twice, no process exits before the output is final", async () => {
    const trace = join(dir, "trace-par");
    mkdirSync(trace);
    const expected = await sequential("seq-par", TRACE_APP);
    const env = { MR_TRACE_DIR: trace, MR_SLOW_MS: "150" };
    const coord = await coordinator("dist-par", TRACE_APP, [], env);
    const workers = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env)));
    const all = [coord, ...workers];
    // Early exit: at the first exit of any process, every output file must already be final.
    const firstExit = await Promise.race(all.map((p) => p.exited.then(() => p)));
    expect(lines("dist-par")).toEqual(expected);
    await Promise.all(all.map((p) => p.exited));
    void firstExit;
    const maps = readdirSync(trace).filter((f) => f.startsWith("map-")).map((f) => f.split("-")).map(([, pid, start, end]) => ({ pid, start: Number(start), end: Number(end) }));
    const splits = Number(/done: (\d+) map/.exec(coord.stdout)![1]);
    expect(maps).toHaveLength(splits); // job count: each map ran exactly once
    const overlap = maps.some((a) => maps.some((b) => a.pid !== b.pid && a.start < b.end && b.start < a.end));
    expect(overlap).toBe(true); // parallelism: two workers were mapping at the same time
  }, 60_000);

  test("reduce parallelism: two workers reduce at the same time", async () => {
    const trace = join(dir, "trace-reduce");
    mkdirSync(trace);
    const env = { MR_TRACE_DIR: trace, MR_SLOW_REDUCE_MS: "3" };
    const coord = await coordinator("dist-rpar", TRACE_APP, [], env);
    const workers = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env)));
    expect(await coord.exited).toBe(0);
    await Promise.all(workers.map((w) => w.exited));
    const spans = readdirSync(trace).filter((f) => f.startsWith("reduce-")).map((f) => f.split("-")).map(([, pid, start, end]) => ({ pid, start: Number(start), end: Number(end) }));
    expect(spans.length).toBe(2); // both workers reduced
    expect(spans[0]!.start < spans[1]!.end && spans[1]!.start < spans[0]!.end).toBe(true);
  }, 60_000);

  test("crash test: workers die at random and are restarted; the output is still equal", async () => {
    const expected = await sequential("seq-crash", "wc");
    const env = { MR_CRASH_RATE: "0.15" };
    const coord = await coordinator("dist-crash", TRACE_APP, ["--task-timeout-ms", "2000"], env);
    let restarts = 0;
    let running = true;
    const keep = async (id: string): Promise<void> => {
      while (running) {
        const w = await worker(coord.address, id, env);
        const code = await w.exited;
        if (code === 0 || !running) return;
        restarts++;
      }
    };
    const keepers = ["w1", "w2", "w3"].map((id) => keep(id));
    expect(await coord.exited).toBe(0);
    running = false;
    await Promise.all(keepers);
    expect(lines("dist-crash")).toEqual(expected);
    expect(restarts).toBeGreaterThan(0);
    console.log(`crash test: ${restarts} worker crashes`);
  }, 90_000);

  test("a SIGSTOPped worker's task is reissued after --task-timeout-ms; first completion wins", async () => {
    const expected = await sequential("seq-stop", "wc");
    const env = { MR_SLOW_MS: "100" };
    const coord = await coordinator("dist-stop", TRACE_APP, ["--task-timeout-ms", "500"], env);
    // A 60 s heartbeat: only the task timeout, not death detection, can take its task away.
    const slow = await NodeProcess.start(["--role", "worker", "--connect", coord.address, "--id", "w-stopped", "--heartbeat-ms", "60000"], { waitListening: false, cwd: dir, env });
    await coord.waitForLog(/peer-ready peer=w-stopped/, 10_000);
    await Bun.sleep(50); // it has a map in hand
    slow.pause();
    const others = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env)));
    expect(await coord.exited).toBe(0);
    await Promise.all(others.map((w) => w.exited));
    expect(lines("dist-stop")).toEqual(expected);
    expect(coord.stdout).toMatch(/[1-9]\d* reassigned/);
    expect(coord.stderr).not.toMatch(/peer-dead peer=w-stopped/);
  }, 60_000);

  test("a worker cut off by the fault proxy has its task reassigned; the output is equal", async () => {
    const expected = await sequential("seq-proxy", "wc");
    const env = { MR_SLOW_MS: "100" };
    const coord = await coordinator("dist-proxy", TRACE_APP, [], env);
    const proxy = FaultProxy.start(coord.host, coord.port);
    proxies.push(proxy);
    await worker(proxy.address, "w-behind-proxy", env);
    await coord.waitForLog(/peer-ready peer=w-behind-proxy/, 10_000);
    await Bun.sleep(50);
    proxy.partition({ lossy: true });
    const others = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env)));
    expect(await coord.exited).toBe(0);
    await Promise.all(others.map((w) => w.exited));
    expect(lines("dist-proxy")).toEqual(expected);
    await waitFor(() => /worker-lost worker=w-behind-proxy|reassigned/.test(coord.stderr + coord.stdout));
  }, 60_000);
});

describe("backup coordinator", () => {
  test("coordinator SIGKILLed mid-job with a backup: the backup takes over and the output is identical", async () => {
    const expected = await sequential("seq-takeover", "wc");
    const env = { MR_SLOW_MS: "30" };
    // The coordinator dies right after its 4th completed map (of 10): the backup must hold those
    // four and have the rest redone.
    const coord = await coordinator("dist-takeover", TRACE_APP, [], { ...env, PEER_NODE_FAILPOINTS: "coordinator-crash-after-maps=4" });
    const backup = await NodeProcess.start(["--role", "backup", "--connect", coord.address, "--listen", "127.0.0.1:0", "--heartbeat-ms", "200"], { cwd: dir, env });
    await coord.waitForLog(/backup-in-sync/, 10_000);
    const workers = await Promise.all(["w1", "w2", "w3"].map((id) => worker(coord.address, id, env)));
    expect(await coord.exited).not.toBe(0);
    expect(await backup.exited).toBe(0);
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0]);
    expect(lines("dist-takeover")).toEqual(expected);
    expect(backup.stderr).toMatch(/taking-over coordinator=\S+ why=\S+ maps=[4-9] reduces=0/);
    expect(backup.stdout).toMatch(/done: .* 1 takeover\(s\)/);
    const took = Number(/coordinating address=\S+ tookMs=(\d+)/.exec(backup.stderr)?.[1]);
    console.log(`takeover: backup coordinating ${took} ms after it noticed the loss`);
  }, 60_000);

  test("a second backup follows the first: coordinator dies, backup 1 takes over, backup 2 registers with it, backup 1 dies, backup 2 finishes", async () => {
    const expected = await sequential("seq-chain", "wc");
    // Slow maps keep the job running long enough for backup 2 to sync before backup 1 dies: backup 1
    // is in sync only once every worker it knows acknowledged it, and a worker first retries its dead
    // coordinator for 2 s; with 150 ms maps the job could end first on a loaded machine (seen in CI).
    const env = { MR_SLOW_MS: "600" };
    const coord = await coordinator("dist-chain", TRACE_APP, [], { ...env, PEER_NODE_FAILPOINTS: "coordinator-crash-after-maps=3" });
    const backup1 = await NodeProcess.start(["--role", "backup", "--connect", coord.address, "--listen", "127.0.0.1:0", "--heartbeat-ms", "200"], { cwd: dir, env });
    await coord.waitForLog(/backup-in-sync/, 10_000);
    const workers = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env)));
    await backup1.waitForLog(/coordinating/, 10_000);
    const backup2 = await NodeProcess.start(["--role", "backup", "--connect", backup1.address, "--listen", "127.0.0.1:0", "--heartbeat-ms", "200"], { cwd: dir, env });
    await backup1.waitForLog(/backup-in-sync/, 10_000);
    // Once two more tasks are done, every worker has asked for work since backup 2 was in sync,
    // so each knows where to go next. (Maps and reduces both count: the job may be past its maps.)
    // First both workers must have found backup 1 (each retries its dead coordinator first).
    type Status = { mapsDone: number; reducesDone: number; reduces: number; workers: number };
    const status = await connectClient(backup1.address, { heartbeatMs: 0, lostWindowMs: 0 });
    const tasksDone = (s: Status): number => s.mapsDone + s.reducesDone;
    await waitFor(async () => (await (status.request("mr.status", {}) as Promise<unknown> as Promise<Status>)).workers === 2, 10_000, 10);
    const at = await (status.request("mr.status", {}) as Promise<unknown> as Promise<Status>);
    expect(at.reducesDone).toBeLessThan(at.reduces - 2); // enough of the job is left to test
    await waitFor(async () => tasksDone(await (status.request("mr.status", {}) as Promise<unknown> as Promise<Status>)) >= tasksDone(at) + 2, 10_000, 10);
    await status.close();
    backup1.kill("SIGKILL");
    expect(await backup2.exited).toBe(0);
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
    expect(lines("dist-chain")).toEqual(expected);
    expect(backup2.stdout).toMatch(/done: .* 2 takeover\(s\)/);
  }, 60_000);

  test("a backup that registers mid-job receives the completed results first (in-sync), then mirrors each one", async () => {
    // Slow enough maps (10 × 150 ms over 2 workers) that the job is still mapping when the backup registers.
    const env = { MR_SLOW_MS: "150" };
    const coord = await coordinator("dist-late-backup", TRACE_APP, [], env);
    const workers = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env)));
    await waitFor(async () => ((await queryJobStatus(coord.address))?.mapsDone ?? 0) >= 1, 10_000, 5);
    const backup = await NodeProcess.start(["--role", "backup", "--connect", coord.address, "--listen", "127.0.0.1:0"], { cwd: dir, env });
    expect(await coord.exited).toBe(0);
    expect(await backup.exited).toBe(0); // told to exit with everyone when the job ended
    await Promise.all(workers.map((w) => w.exited));
    expect(coord.stderr).toMatch(/backup-in-sync/);
    expect(backup.stderr).toMatch(/in-sync coordinator=\S+ maps=[1-9]/);
  }, 60_000);
});

test("a 600 KiB line without a newline: no word is cut between splits, the word count equals one computed here", async () => {
  const words = ["whale", "Ishmael", "naïve", "über", "sea", "東京"];
  let line = "";
  for (let i = 0; line.length < 600 * 1024; i++) line += `${words[(i * 7) % words.length]}${i % 5 === 0 ? "," : ""} `;
  writeFileSync(join(dir, "longline.txt"), line);
  const counts = new Map<string, number>();
  for (const w of line.match(/\p{L}+/gu) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  const coord = await NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "longline.txt", "--out", "dist-longline", "--reduces", "3", "--heartbeat-ms", "200"], { cwd: dir });
  const workers = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id)));
  expect(await coord.exited).toBe(0);
  await Promise.all(workers.map((w) => w.exited));
  expect(lines("dist-longline")).toEqual([...counts].map(([w, n]) => `${w} ${n}`).sort());
}, 60_000);

describe("bad input", () => {
  test.each([
    [["--input", "missing.txt", "--out", "x"], /--input: no such file: missing\.txt/],
    [["--input", "pg-0.txt", "--out", "x", "--reduces", "0"], /--reduces: 0 is below the minimum 1/],
    [["--input", "pg-0.txt", "--out", "x", "--app", join(REPO_ROOT, "test/fixtures/broken_app.ts")], /does not export reduce/],
    [["--out", "x"], /needs --input/],
  ])("coordinator %p → one-line error, exit 2", async (args, pattern) => {
    const node = await NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", ...(args as string[])], { waitListening: false, cwd: dir });
    expect(await node.exited).toBe(2);
    expect(node.stderr.trim().split("\n")).toHaveLength(1);
    expect(node.stderr).toMatch(pattern as RegExp);
  });

  test("a map that keeps throwing fails the job with the app's message; workers are told to exit", async () => {
    const coord = await coordinator("dist-throw", join(REPO_ROOT, "test/fixtures/throwing_app.ts"));
    const w = await worker(coord.address, "w1");
    expect(await coord.exited).toBe(ExitCode.jobFailed);
    expect(coord.stderr).toMatch(/job failed: map task \d+ failed 3 times: cannot parse pg-\d\.txt/);
    expect(await w.exited).toBe(ExitCode.jobFailed);
  }, 30_000);

  test("a worker whose coordinator is gone exits non-zero with a clear message", async () => {
    const coord = await coordinator("dist-gone", TRACE_APP, [], { MR_SLOW_MS: "2000" });
    const w = await NodeProcess.start(["--role", "worker", "--connect", coord.address, "--id", "w1", "--heartbeat-ms", "200", "--coordinator-lost-ms", "3000"], { waitListening: false, cwd: dir, env: { MR_SLOW_MS: "2000" } });
    // The worker's own word that it has its coordinator: the coordinator's peer-ready comes before
    // the worker has read the hello reply, and a worker cut off before that never had a coordinator
    // to lose (it waits for one, as workers started first do).
    await w.waitForLog(/connected peer=\S+ role=coordinator/, 10_000);
    coord.kill("SIGKILL");
    expect(await w.exited).toBe(3);
    expect(w.stderr).toMatch(/peer-node: worker w1: lost the coordinator at 127\.0\.0\.1:\d+; none found within 3000 ms/);
  }, 30_000);
});

test("workers started before the coordinator wait for it and then do the job", async () => {
  const expected = await sequential("seq-early", "wc");
  // Slow maps: the job outlasts the reconnect backoff's 2 s ceiling, so both waiting workers
  // reach the coordinator before it is over (a worker that arrives after the end waits 30 s).
  const env = { MR_SLOW_MS: "500" };
  const port = freePort();
  const workers = await Promise.all(["w1", "w2"].map((id) => worker(`127.0.0.1:${port}`, id, env)));
  await Bun.sleep(700);
  const coord = await NodeProcess.start(["--role", "coordinator", "--listen", `127.0.0.1:${port}`, "--input", "pg-*.txt", "--out", "dist-early", "--reduces", "5", "--app", TRACE_APP], { cwd: dir, env });
  expect(await coord.exited).toBe(0);
  expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
  expect(lines("dist-early")).toEqual(expected);
  expect(coord.stderr).toMatch(/peer-ready peer=w1/);
  expect(coord.stderr).toMatch(/peer-ready peer=w2/);
}, 60_000);
