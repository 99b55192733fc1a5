// Goal: with --token, only a hello with the same token is accepted. Method: a real broker with a
// token, raw sockets with no, wrong and right tokens.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { NodeProcess, killAll } from "../harness/node_process.ts";
import { RawSocket } from "../harness/raw_socket.ts";

let node: NodeProcess;
beforeAll(async () => {
  node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--token", "s3cret"]);
});
afterAll(killAll);

test("no token: AUTH_FAILED and close", async () => {
  const socket = await RawSocket.connect(node.host, node.port);
  expect(await socket.hello()).toMatchObject({ op: "error", name: "AUTH_FAILED" });
  await socket.waitClosed();
});

test("wrong token: AUTH_FAILED and close", async () => {
  const socket = await RawSocket.connect(node.host, node.port);
  expect(await socket.hello({ token: "guess" })).toMatchObject({ op: "error", name: "AUTH_FAILED" });
  await socket.waitClosed();
});

test("right token: hello ok, ping ok", async () => {
  const socket = await RawSocket.connect(node.host, node.port);
  expect(await socket.hello({ token: "s3cret" })).toMatchObject({ op: "ok", role: "broker" });
  socket.send({ op: "ping", id: 2 });
  expect(await socket.next()).toMatchObject({ op: "ok", re: 2 });
  socket.close();
});
