// Goal: the failover rules of protocols/mapreduce.md hold under the faults that broke them: a worker
// first retries its own coordinator and moves only to a node that is coordinating; takeover is
// idempotent; a second takeover right after a sync; a worker cut off after a takeover reconnects.
// Method: real processes (coordinator, backups, workers), SIGSTOP/SIGCONT and kill -9, files in a
// temp dir; every job's output is compared with an independent word count computed here.

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/launcher/local_process.ts";
import { queryJobStatus } from "../../src/mapreduce/status_query.ts";
import { seededRandom } from "../../src/seeded_random.ts";
import { FaultProxy } from "../harness/fault_proxy.ts";
import { readOutputLines } from "../../src/mapreduce/output.ts";
import { NodeProcess, killAll, REPO_ROOT } from "../harness/node_process.ts";
import { waitFor } from "../harness/wait_for.ts";

const dir = mkdtempSync(join(tmpdir(), "peer-node-mrf-"));
const TRACE_APP = join(REPO_ROOT, "test/fixtures/trace_app.ts");
const proxies: FaultProxy[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) p.stop();
  await killAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The output of a job written to `out` under the test's directory. */
const outputLines = (out: string): string[] => readOutputLines(join(dir, out));

const WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
const rand = seededRandom(11);
for (let f = 0; f < 8; f++) {
  let text = "";
  while (text.length < 40_000) text += `${WORDS[rand(WORDS.length)]}${rand(10) === 0 ? "\n" : " "}`;
  writeFileSync(join(dir, `in-${f}.txt`), text);
}

/** The reference: a word count computed here, independently of the code under test. */
function expectedWordCount(): string[] {
  const counts = new Map<string, number>();
  for (const f of readdirSync(dir).filter((n) => /^in-\d+\.txt$/.test(n))) {
    for (const w of readFileSync(join(dir, f), "utf8").match(/\p{L}+/gu) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return [...counts].map(([w, n]) => `${w} ${n}`).sort();
}


const HB = ["--heartbeat-ms", "200"];
const coordinator = (out: string, env?: Record<string, string>, extra: string[] = []): Promise<NodeProcess> =>
  NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "in-*.txt", "--out", out, "--reduces", "3", "--app", TRACE_APP, ...HB, ...extra], { cwd: dir, env });
const backup = (connect: string, env?: Record<string, string>): Promise<NodeProcess> =>
  NodeProcess.start(["--role", "backup", "--connect", connect, "--listen", "127.0.0.1:0", ...HB], { cwd: dir, env });
const worker = (connect: string, id: string, env?: Record<string, string>, extra: string[] = []): Promise<NodeProcess> =>
  NodeProcess.start(["--role", "worker", "--connect", connect, "--id", id, ...HB, ...extra], { waitListening: false, cwd: dir, env });
const count = (text: string, pattern: RegExp): number => [...text.matchAll(new RegExp(pattern, "g"))].length;

test("all workers paused 2.5 s with a backup present: they come back to their coordinator and the job finishes", async () => {
  const env = { MR_SLOW_MS: "150" };
  const coord = await coordinator("out-pause", env);
  const b = await backup(coord.address, env);
  await coord.waitForLog(/backup-in-sync/, 10_000);
  // Default heartbeats (a pause longer than death detection), both addresses as the README says.
  const workers = await Promise.all(["w1", "w2", "w3"].map((id) => NodeProcess.start(["--role", "worker", "--connect", `${coord.address},${b.address}`, "--id", id], { waitListening: false, cwd: dir, env })));
  await coord.waitForLog(/peer-ready peer=w3/, 10_000);
  await Bun.sleep(300);
  for (const w of workers) w.pause();
  await Bun.sleep(2_500);
  for (const w of workers) w.resume();
  expect(await coord.exited).toBe(0);
  expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0]);
  expect(await b.exited).toBe(0);
  expect(b.stderr).not.toMatch(/taking-over/);
  expect(outputLines("out-pause")).toEqual(expectedWordCount());
}, 60_000);

test("the backup's link to a live coordinator is cut for 1 s: no takeover; the backup registers again and the job ends with one coordinator", async () => {
  const env = { MR_SLOW_MS: "700" }; // 8 maps on 2 workers: the job outlasts the cut and the resync
  const coord = await coordinator("out-blip", env);
  const proxy = FaultProxy.start(coord.host, coord.port);
  proxies.push(proxy);
  const b = await backup(proxy.address, env);
  await coord.waitForLog(/backup-in-sync/, 10_000);
  const workers = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env)));
  await coord.waitForLog(/peer-ready peer=w2/, 10_000);
  proxy.partition(); // longer than the backup's death detection (3 × 200 ms), shorter than its takeover window
  await Bun.sleep(1_000);
  proxy.heal();
  expect(await coord.exited).toBe(0);
  expect(await b.exited).toBe(0);
  expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
  expect(b.stderr).not.toMatch(/taking-over/);
  expect(b.stderr).toMatch(/coordinator-back/);
  expect(count(b.stderr, /in-sync coordinator=/)).toBe(2);
  expect(outputLines("out-blip")).toEqual(expectedWordCount());
}, 60_000);

test("3 s map and 3 s reduce tasks finish: heartbeats go on during a task (it runs off the worker's event loop)", async () => {
  writeFileSync(join(dir, "tiny.txt"), "alpha\n");
  // One map of 3 s; one reduce with one key, 3 s in its only reduce call. Heartbeats every 200 ms.
  const env = { MR_SLOW_MS: "3000", MR_SLOW_REDUCE_MS: "3000" };
  const coord = await NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "tiny.txt", "--out", "out-long", "--reduces", "1", "--app", TRACE_APP, ...HB], { cwd: dir, env });
  const w = await worker(coord.address, "w-long", env);
  expect(await coord.exited).toBe(0);
  expect(await w.exited).toBe(0);
  expect(readFileSync(join(dir, "out-long", "mr-out-0"), "utf8")).toBe("alpha 1\n");
  expect(coord.stderr).not.toMatch(/peer-dead|worker-lost/);
  expect(coord.stdout).toMatch(/0 reassigned/);
}, 60_000);

/** Coordinator → backup 1 (which takes over) → backup 2 registers with it; backup 1 carries `failpoints`. */
async function chain(out: string, failpoints: string, env: Record<string, string>, workerExtra: string[] = []) {
  const coord = await coordinator(out, { ...env, PEER_NODE_FAILPOINTS: "coordinator-crash-after-maps=2" });
  const b1 = await backup(coord.address, { ...env, PEER_NODE_FAILPOINTS: failpoints });
  await coord.waitForLog(/backup-in-sync/, 10_000);
  const workers = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env, workerExtra)));
  await b1.waitForLog(/coordinating/, 15_000);
  // Both workers must be with backup 1 before backup 2 syncs: the sync tells the workers it has.
  const b1Address = b1.address;
  await waitFor(async () => (await queryJobStatus(b1Address))?.workers === 2, 15_000, 20);
  const b2 = await backup(b1.address, env);
  return { coord, b1, b2, workers };
}

test("a second takeover the instant backup 2 is in sync: backup 2 takes over and finishes (the workers knew it before it counted itself in sync)", async () => {
  const { b1, b2, workers } = await chain("out-sync", "coordinator-crash-after-in-sync", { MR_SLOW_MS: "600" });
  expect(await b1.exited).not.toBe(0);
  expect(await b2.exited).toBe(0);
  expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
  expect(b2.stdout).toMatch(/done: .* 2 takeover\(s\)/);
  expect(outputLines("out-sync")).toEqual(expectedWordCount());
}, 90_000);

test("a double fault inside the sync window (backup 1 dies before backup 2 is in sync): nobody hangs; every process exits 3 saying why", async () => {
  const { b1, b2, workers } = await chain("out-window", "coordinator-crash-before-in-sync", { MR_SLOW_MS: "600" }, ["--coordinator-lost-ms", "3000"]);
  expect(await b1.exited).not.toBe(0);
  expect(await b2.exited).toBe(3);
  expect(b2.stderr).toMatch(/before the backup was in sync; exiting/);
  expect(await Promise.all(workers.map((w) => w.exited))).toEqual([3, 3]);
  for (const w of workers) expect(w.stderr).toMatch(/none found within 3000 ms/);
}, 90_000);

test("a takeover in the reduce phase, with reduce outputs already mirrored: the backup takes over once and the output is exact", async () => {
  const env = { MR_SLOW_REDUCE_MS: "20" };
  const coord = await coordinator("out-reduce", { ...env, PEER_NODE_FAILPOINTS: "coordinator-crash-after-reduces=1" });
  const b = await backup(coord.address, env);
  await coord.waitForLog(/backup-in-sync/, 10_000);
  const workers = await Promise.all(["w1", "w2"].map((id) => worker(coord.address, id, env)));
  expect(await coord.exited).not.toBe(0);
  expect(await b.exited).toBe(0);
  expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
  expect(count(b.stderr, /taking-over/)).toBe(1);
  expect(b.stderr).toMatch(/taking-over coordinator=\S+ why=\S+ maps=8 reduces=[1-2]/);
  expect(b.stderr).not.toMatch(/registered twice|ERROR/);
  expect(outputLines("out-reduce")).toEqual(expectedWordCount());
}, 60_000);

test("a worker cut off after a takeover (4 s) reconnects to the acting coordinator; a worker started after the takeover joins", async () => {
  const env = { MR_SLOW_MS: "250" };
  const coord = await coordinator("out-cut", { ...env, PEER_NODE_FAILPOINTS: "coordinator-crash-after-maps=2" });
  // The backup listens on a port chosen here and is announced through the proxy: workers reach it only that way.
  const port = freePort();
  const proxy = FaultProxy.start("127.0.0.1", port);
  proxies.push(proxy);
  const b = await NodeProcess.start(["--role", "backup", "--connect", coord.address, "--listen", `127.0.0.1:${port}`, "--advertise", proxy.address, ...HB], { cwd: dir, env });
  await coord.waitForLog(/backup-in-sync/, 10_000);
  const cut = await worker(coord.address, "w-cut", env);
  await b.waitForLog(/coordinating/, 15_000);
  await b.waitForLog(/peer-ready peer=w-cut/, 15_000);
  expect(proxy.connectionCount).toBeGreaterThan(0);
  proxy.partition({ lossy: true });
  await Bun.sleep(4_000);
  proxy.heal();
  const late = await worker(`${coord.address},${proxy.address}`, "w-late", env);
  expect(await b.exited).toBe(0);
  expect(await cut.exited).toBe(0);
  expect(await late.exited).toBe(0);
  expect(count(b.stderr, /peer-ready peer=w-cut/)).toBeGreaterThanOrEqual(2);
  expect(b.stderr).toMatch(/peer-ready peer=w-late/);
  expect(outputLines("out-cut")).toEqual(expectedWordCount());
}, 90_000);

test("a coordinator with no workers says so: on its status line and in mr.status", async () => {
  const coord = await coordinator("out-none");
  await waitFor(async () => ((await queryJobStatus(coord.address))?.noWorkersMs ?? 0) >= 5_000, 10_000, 100);
  await coord.waitForLog(/no-workers forMs=\d+/, 5_000);
  const w = await worker(coord.address, "w-finally");
  expect(await coord.exited).toBe(0);
  expect(await w.exited).toBe(0);
  expect(outputLines("out-none")).toEqual(expectedWordCount());
}, 60_000);
