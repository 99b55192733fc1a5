// Goal: the standalone executable built by `bun build --compile` is the same node: it prints its
// listening line, answers hello and ping, and survives 64 KiB of random bytes and a 0xFFFFFFFF
// length prefix. Method: compile into a temp dir, run it as a process, raw sockets.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeProcess, killAll, REPO_ROOT } from "../harness/node_process.ts";
import { RawSocket } from "../harness/raw_socket.ts";

const dir = mkdtempSync(join(tmpdir(), "peer-node-bin-"));
const binary = join(dir, "node");

beforeAll(async () => {
  const build = Bun.spawnSync([process.execPath, "build", "--compile", join(REPO_ROOT, "bin/node.ts"), "--outfile", binary], { cwd: REPO_ROOT, stderr: "pipe", stdout: "pipe" });
  if (build.exitCode !== 0) throw new Error(`bun build --compile failed: ${build.stderr.toString()}`);
}, 120_000);
afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

async function helloAndPing(node: NodeProcess): Promise<void> {
  const socket = await RawSocket.connect(node.host, node.port);
  expect(await socket.hello()).toMatchObject({ op: "ok", role: "broker", version: 1 });
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
