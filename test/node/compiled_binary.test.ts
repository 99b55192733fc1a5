// Goal: the standalone executable built by `bun build --compile` is the same node: it prints its
// listening line, answers hello and ping, and survives 64 KiB of random bytes and a 0xFFFFFFFF
// length prefix. Method: compile into a temp dir, run it as a process, raw sockets.

import { PROTOCOL_VERSION } from "../../protocols/core.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeProcess, killAll, REPO_ROOT } from "../harness/node_process.ts";
import { RawSocket } from "../harness/raw_socket.ts";
import { compileNode } from "../../scripts/compile.ts";

const dir = mkdtempSync(join(tmpdir(), "peer-node-bin-"));
const binary = join(dir, "node");

beforeAll(async () => {
  compileNode(binary);
}, 120_000);
afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

async function helloAndPing(node: NodeProcess): Promise<void> {
  const socket = await RawSocket.connect(node.host, node.port);
  expect(await socket.hello()).toMatchObject({ op: "ok", role: "broker", version: PROTOCOL_VERSION });
  socket.send({ op: "ping", id: 2 });
  expect(await socket.next()).toMatchObject({ op: "ok", re: 2 });
  socket.close();
}

test("the compiled ./node answers hello and ping, also after garbage and a 0xFFFFFFFF prefix", async () => {
  const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"], { binary });
  expect(node.stdout).toMatch(/listening on 127\.0\.0\.1:\d+/);
  await helloAndPing(node);

  const junk = new Uint8Array(64 * 1024);
  crypto.getRandomValues(junk);
  const garbage = await RawSocket.connect(node.host, node.port);
  garbage.write(junk);
  await garbage.waitClosed();
  await helloAndPing(node);

  const huge = await RawSocket.connect(node.host, node.port);
  huge.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  expect(await huge.next()).toMatchObject({ op: "error", name: "FRAME_TOO_LARGE" });
  await huge.waitClosed();
  await helloAndPing(node);
  expect(node.isRunning).toBe(true);
});

test("the compiled ./node prints --version and rejects an unknown role", async () => {
  const version = await NodeProcess.start(["--version"], { binary, waitListening: false });
  expect(await version.exited).toBe(0);
  await Bun.sleep(20);
  expect(version.stdout).toMatch(/^peer-node \d/);
  const bad = await NodeProcess.start(["--role", "wizard"], { binary, waitListening: false });
  expect(await bad.exited).toBe(2);
});

test("the compiled ./node runs a MapReduce job: its task thread is inside the executable (run from a dir without the sources)", async () => {
  const work = mkdtempSync(join(tmpdir(), "peer-node-bin-mr-"));
  try {
    writeFileSync(join(work, "a.txt"), "the cat and the hat\nthe end\n");
    const coord = await NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "a.txt", "--out", "out", "--reduces", "2"], { binary, cwd: work });
    const worker = await NodeProcess.start(["--role", "worker", "--connect", coord.address], { binary, cwd: work, waitListening: false });
    expect(await coord.exited).toBe(0);
    expect(await worker.exited).toBe(0);
    const lines = ["mr-out-0", "mr-out-1"].flatMap((f) => readFileSync(join(work, "out", f), "utf8").split("\n").filter(Boolean)).sort();
    expect(lines).toEqual(["and 1", "cat 1", "end 1", "hat 1", "the 3"]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 60_000);
