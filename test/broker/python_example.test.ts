// Goal: protocols/ is enough to write a client in another language. Method: run the Python example
// (stdlib socket + Debian's python3-msgpack) against a real broker and check every step's output.
// Skipped, visibly, on a machine without python3-msgpack; .ci/run installs it.

import { afterAll, expect, test } from "bun:test";
import { REPO_ROOT, killAll } from "../harness/node_process.ts";
import { startBroker } from "../harness/broker_fixture.ts";

const PYTHON = "/usr/bin/python3";
const hasMsgpack = Bun.spawnSync([PYTHON, "-c", "import msgpack"], { stderr: "ignore" }).exitCode === 0;

afterAll(killAll);

test.skipIf(!hasMsgpack)("the Python example publishes, consumes with ack and reads a list through a running broker", async () => {
  const broker = await startBroker();
  const proc = Bun.spawn([PYTHON, `${REPO_ROOT}/protocols/examples/broker_example.py`, broker.address], { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const lines = out.trim().split("\n");
  expect(lines[0]).toMatch(/^connected to broker-\S+ \(broker\), frameBytesMax 1048576$/);
  expect(lines.slice(1, 4)).toEqual(["published alpha routed=1", "published beta routed=1", "published gamma routed=1"]);
  expect(lines.slice(4, 7).map((l) => l.split(" ")[1])).toEqual(["alpha", "beta", "gamma"]);
  expect(lines[7]).toBe("list length=3 values=['x', 'y', 3]");
  expect(lines[8]).toBe("typed error WRONG_TYPE code=41");
  expect(lines[9]).toBe("stats depth=0 unacked=0 acked=3");
});
