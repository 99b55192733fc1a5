// Goal: protocols/ is enough to write a client in another language, and the broker does what it
// says. Method: protocols/examples/broker_example.py, a Python client written from the spec alone
// (standard library only, its own msgpack codec), runs its conformance check against a real broker
// process: at least one check per op of the broker tables, each asserting the outcome the spec
// states. Skipped, visibly, on a machine without python3.

import { afterAll, expect, test } from "bun:test";
import { broker, brokerClient } from "../../protocols/broker.ts";
import { startBroker } from "../harness/broker_fixture.ts";
import { REPO_ROOT, killAll, type NodeProcess } from "../harness/node_process.ts";

const PYTHON = Bun.which("python3");
const SCRIPT = `${REPO_ROOT}/protocols/examples/broker_example.py`;
if (!PYTHON) console.log("python3 not found: the Python conformance check is skipped");

afterAll(killAll);

let running: Promise<NodeProcess> | null = null;
/** One broker process for the tests of this file, started on first use. */
function theBroker(): Promise<NodeProcess> {
  running ??= startBroker();
  return running;
}

async function runScript(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([PYTHON!, SCRIPT, ...args], { cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, out, err };
}

test.skipIf(!PYTHON)("the Python client's conformance check passes against a running broker and covers every broker op", async () => {
  const node = await theBroker();
  const { code, out, err } = await runScript(["--conformance", node.address]);
  const lines = out.trimEnd().split("\n");
  // The failed checks first, so a failure shows what the broker did.
  expect(lines.filter((l) => l.startsWith("FAIL "))).toEqual([]);
  expect(err).toBe("");
  expect(code).toBe(0);

  const summary = lines.at(-1) ?? "";
  const counts = /^(\d+) passed, (\d+) failed$/.exec(summary);
  expect(counts, `last line: ${summary}`).not.toBeNull();
  expect(Number(counts![2])).toBe(0);
  expect(Number(counts![1])).toBeGreaterThanOrEqual(40);
  expect(lines.filter((l) => l.startsWith("ok ")).length).toBe(Number(counts![1]));

  const coveredLine = lines.find((l) => l.startsWith("covered: "));
  expect(coveredLine).toBeDefined();
  const covered = new Set(coveredLine!.slice("covered: ".length).split(" "));
  const missing = [...Object.keys(broker.ops), ...Object.keys(brokerClient.ops), "hello", "ping"].filter((op) => !covered.has(op));
  expect(missing).toEqual([]);
}, 180_000);

test.skipIf(!PYTHON)("the Python client without arguments prints its usage and exits 2", async () => {
  const { code, out, err } = await runScript([]);
  expect(code).toBe(2);
  expect(`${out}${err}`).toMatch(/^usage: broker_example\.py .*HOST:PORT/m);
});

test.skipIf(!PYTHON)("the Python demo declares a queue, publishes with confirms, consumes with acks, uses a list and gets a typed error", async () => {
  const node = await theBroker();
  const { code, out, err } = await runScript([node.address]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const lines = out.trimEnd().split("\n");
  expect(lines[0]).toMatch(/^connected to \S+ \(broker\), frameBytesMax 1048576$/);
  expect(lines[1]).toMatch(/^declared queue py-demo-jobs-\S+$/);
  expect(lines.slice(2, 5)).toEqual(["published alpha routed=1", "published beta routed=1", "published gamma routed=1"]);
  expect(lines.slice(5, 8)).toEqual([
    "consumed alpha delivery=1 redelivered=False",
    "consumed beta delivery=2 redelivered=False",
    "consumed gamma delivery=3 redelivered=False",
  ]);
  expect(lines[8]).toBe("list length=3 values=['x', 'y', 3]");
  expect(lines[9]).toBe("typed error WRONG_TYPE code=41");
  expect(lines[10]).toBe("stats depth=0 unacked=0 acked=3");
  expect(lines.length).toBe(11);
}, 60_000);
