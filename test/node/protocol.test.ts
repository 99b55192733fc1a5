// Goal: a running node answers hello and ping, rejects every kind of bad input with the documented
// error code, and keeps serving other clients afterwards. Method: a real broker process on port 0,
// raw TCP sockets that send exact bytes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ErrorCodes } from "../../protocols/errors.ts";
import { NodeProcess, killAll } from "../harness/node_process.ts";
import { RawSocket } from "../harness/raw_socket.ts";

let node: NodeProcess;
beforeAll(async () => {
  node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--id", "b1", "--log-level", "debug"]);
});
afterAll(killAll);

async function raw(): Promise<RawSocket> {
  return RawSocket.connect(node.host, node.port);
}

async function assertStillServing(): Promise<void> {
  const socket = await raw();
  const hello = await socket.hello();
  expect(hello).toMatchObject({ op: "ok", re: 1, node: "b1", role: "broker", version: 1, frameBytesMax: 1048576 });
  socket.send({ op: "ping", id: 2 });
  expect(await socket.next((f) => f.re === 2)).toMatchObject({ op: "ok", re: 2 });
  socket.close();
}

describe("handshake and ping", () => {
  test("hello reply carries the node's id, role, version and frameBytesMax; ping is answered", async () => {
    await assertStillServing();
  });

  test("a wrong protocol version gets VERSION_MISMATCH, then the connection closes", async () => {
    const socket = await raw();
    const reply = await socket.hello({ version: 99 });
    expect(reply).toMatchObject({ op: "error", re: 1, code: ErrorCodes.VERSION_MISMATCH.code, name: "VERSION_MISMATCH", definite: true });
    await socket.waitClosed();
  });

  test("a request before hello gets HELLO_REQUIRED and the stream stays usable", async () => {
    const socket = await raw();
    socket.send({ op: "ping", id: 5 });
    expect(await socket.next()).toMatchObject({ op: "error", re: 5, code: ErrorCodes.HELLO_REQUIRED.code });
    expect(await socket.hello()).toMatchObject({ op: "ok" });
    socket.close();
  });

  test("a second hello gets ALREADY_HELLO", async () => {
    const socket = await raw();
    await socket.hello();
    socket.send({ op: "hello", id: 9, node: "x", role: "client", version: 1 });
    expect(await socket.next()).toMatchObject({ op: "error", re: 9, name: "ALREADY_HELLO" });
    socket.close();
  });
});

describe("bad input", () => {
  test("64 KiB of random bytes: connection closed with an error, node still serves", async () => {
    const socket = await raw();
    const junk = new Uint8Array(64 * 1024);
    crypto.getRandomValues(junk);
    junk[0] = 0x7f; // make sure the length prefix is oversized whatever the random draw
    socket.write(junk);
    await socket.waitClosed();
    expect(socket.frames[0]).toMatchObject({ op: "error", name: "FRAME_TOO_LARGE" });
    await assertStillServing();
  });

  test("length prefix 0xFFFFFFFF: FRAME_TOO_LARGE at once (no body buffered), close, node still serves", async () => {
    const socket = await raw();
    await socket.hello();
    socket.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    const error = await socket.next();
    expect(error).toMatchObject({ op: "error", code: ErrorCodes.FRAME_TOO_LARGE.code });
    expect(error.re).toBeUndefined();
    await socket.waitClosed();
    await assertStillServing();
  });

  test("a body that is not msgpack: MALFORMED_FRAME, then close", async () => {
    const socket = await raw();
    socket.write(new Uint8Array([0, 0, 0, 3, 0x85, 0xa1, 0x61]));
    expect(await socket.next()).toMatchObject({ op: "error", name: "MALFORMED_FRAME" });
    await socket.waitClosed();
    await assertStillServing();
  });

  test("bodies that are not a map or lack op: BAD_ENVELOPE, connection stays open", async () => {
    const socket = await raw();
    await socket.hello();
    socket.send([1, 2, 3]);
    expect(await socket.next()).toMatchObject({ op: "error", name: "BAD_ENVELOPE" });
    socket.send({ id: 4 });
    expect(await socket.next()).toMatchObject({ op: "error", name: "BAD_ENVELOPE" });
    socket.send({ op: "ping", id: 5 });
    expect(await socket.next()).toMatchObject({ op: "ok", re: 5 });
    expect(socket.closed).toBe(false);
    socket.close();
  });

  test("an unknown op: UNKNOWN_OP with re, connection stays open", async () => {
    const socket = await raw();
    await socket.hello();
    socket.send({ op: "no-such-op", id: 77 });
    expect(await socket.next()).toMatchObject({ op: "error", re: 77, code: ErrorCodes.UNKNOWN_OP.code, definite: true });
    socket.send({ op: "ping", id: 78 });
    expect(await socket.next()).toMatchObject({ op: "ok", re: 78 });
    socket.close();
  });

  test("a frame cut off mid-body by the peer closing does not disturb the node", async () => {
    const socket = await raw();
    await socket.hello();
    socket.write(new Uint8Array([0, 0, 1, 0, 0x81, 0xa2]));
    socket.close();
    await assertStillServing();
  });

  test("the node process is still alive after all of the above", () => {
    expect(node.isRunning).toBe(true);
    expect(node.stderr).not.toMatch(/uncaught|TypeError|RangeError/i);
  });
});
