// Goal: a running node answers hello and ping, rejects every kind of bad input with the documented
// error code, and keeps serving other clients afterwards. Method: a real broker process on port 0,
// raw TCP sockets that send exact bytes.

import { PROTOCOL_VERSION } from "../../protocols/core.ts";
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
  expect(hello).toMatchObject({ op: "ok", re: 1, node: "b1", role: "broker", version: PROTOCOL_VERSION, frameBytesMax: 1048576 });
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
    socket.send({ op: "hello", id: 9, node: "x", role: "client", version: PROTOCOL_VERSION });
    expect(await socket.next()).toMatchObject({ op: "error", re: 9, name: "ALREADY_HELLO" });
    socket.close();
  });
});

describe("the contract of issue 8 (each of these failed on the old codec or handshake)", () => {
  const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s/g, ""), "hex"));

  test("the hello reply lists the protocols the node serves", async () => {
    const socket = await raw();
    expect(await socket.hello()).toMatchObject({ op: "ok", serves: ["broker"] });
    socket.close();
  });

  test("a malformed hello is BAD_ARGUMENT with re and the connection stays open for a corrected one", async () => {
    const socket = await raw();
    expect(await socket.hello({ node: "n".repeat(300) })).toMatchObject({ op: "error", re: 1, name: "BAD_ARGUMENT", message: expect.stringContaining('"node"') });
    socket.send({ op: "hello", id: 2, node: "raw-test", role: "client", heartbeatMs: 0 }); // no version
    expect(await socket.next((f) => f.re === 2)).toMatchObject({ op: "error", name: "BAD_ARGUMENT", message: expect.stringContaining('"version"') });
    socket.send({ op: "hello", id: 3, node: "raw-test", role: "client", version: PROTOCOL_VERSION, heartbeatMs: -5 });
    expect(await socket.next((f) => f.re === 3)).toMatchObject({ op: "error", name: "BAD_ARGUMENT" });
    socket.send({ op: "hello", id: 4, node: "raw-test", role: "client", version: PROTOCOL_VERSION, heartbeatMs: 1.5 });
    expect(await socket.next((f) => f.re === 4)).toMatchObject({ op: "error", name: "BAD_ARGUMENT" });
    socket.send({ op: "hello", id: 5, node: "raw-test", role: "client", version: PROTOCOL_VERSION, heartbeatMs: 5 });
    expect(await socket.next((f) => f.re === 5)).toMatchObject({ op: "ok", heartbeatMs: 20 }); // clamped up to the minimum
    expect(socket.closed).toBe(false);
    socket.close();
  });

  test("an id encoded as msgpack uint64 is an id; integers past 2^32 come back as integers, not floats", async () => {
    const socket = await raw();
    await socket.hello();
    socket.sendBody(hex("82 a2 6f70 a4 70696e67 a2 6964 cf 0000000000000006")); // {op: "ping", id: uint64 6}
    expect(await socket.next((f) => f.re === 6)).toMatchObject({ op: "ok", re: 6 });
    socket.send({ op: "incr", id: 7, key: "big-counter", by: 2 ** 40 });
    expect(await socket.next((f) => f.re === 7)).toMatchObject({ op: "ok", value: 2 ** 40 });
    const body = socket.bodies.at(-1)!;
    expect(Buffer.from(body).toString("hex")).toContain("cf0000010000000000"); // uint64, never cb (float64)
    socket.close();
  });

  test("byte 0xc1 is MALFORMED_FRAME and closes; an extension type is BAD_ARGUMENT with re and keeps the connection", async () => {
    const socket = await raw();
    await socket.hello();
    socket.sendBody(hex("83 a2 6f70 a3 676574 a2 6964 08 a3 6b6579 d40501")); // {op: "get", id: 8, key: fixext1}
    expect(await socket.next((f) => f.re === 8)).toMatchObject({ op: "error", name: "BAD_ARGUMENT", message: expect.stringContaining("extension type") });
    socket.send({ op: "ping", id: 9 });
    expect(await socket.next((f) => f.re === 9)).toMatchObject({ op: "ok" });
    socket.sendBody(hex("c1"));
    expect(await socket.next((f) => f.op === "error")).toMatchObject({ name: "MALFORMED_FRAME" });
    await socket.waitClosed();
  });

  test("BAD_ENVELOPE carries re when the id was readable; errors never echo a large input", async () => {
    const socket = await raw();
    await socket.hello();
    socket.send({ op: 3, id: 10 });
    expect(await socket.next((f) => f.re === 10)).toMatchObject({ op: "error", name: "BAD_ENVELOPE" });
    socket.send({ op: "x".repeat(100_000), id: 11 });
    const unknown = await socket.next((f) => f.re === 11);
    expect(unknown).toMatchObject({ op: "error", name: "UNKNOWN_OP" });
    expect(String(unknown.message).length).toBeLessThan(200);
    socket.close();
  });

  test("nothing larger than the frameBytesMax a client announced is sent to it: REPLY_TOO_LARGE, and nothing is taken", async () => {
    const socket = await raw();
    await socket.hello({ frameBytesMax: 4096 });
    socket.send({ op: "rpush", id: 12, key: "big-list", values: Array.from({ length: 10 }, (_, i) => `${i}`.repeat(1000)) });
    expect(await socket.next((f) => f.re === 12)).toMatchObject({ op: "ok", length: 10 });
    socket.send({ op: "lrange", id: 13, key: "big-list", start: 0, stop: -1 });
    expect(await socket.next((f) => f.re === 13)).toMatchObject({ op: "error", name: "REPLY_TOO_LARGE", definite: true });
    socket.send({ op: "lpop", id: 14, key: "big-list", count: 10 });
    expect(await socket.next((f) => f.re === 14)).toMatchObject({ op: "error", name: "REPLY_TOO_LARGE" });
    socket.send({ op: "llen", id: 15, key: "big-list" });
    expect(await socket.next((f) => f.re === 15)).toMatchObject({ op: "ok", length: 10 });
    socket.send({ op: "lrange", id: 16, key: "big-list", start: 0, stop: 1 });
    expect(await socket.next((f) => f.re === 16)).toMatchObject({ op: "ok", values: ["0".repeat(1000), "1".repeat(1000)] });
    socket.send({ op: "consume", id: 17, queue: "whatever" });
    expect(await socket.next((f) => f.re === 17)).toMatchObject({ op: "error", name: "PRECONDITION_FAILED" }); // must accept the broker's frames
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
