// Goal: connections that never say hello cannot hurt anyone else, token or not. Method: a broker
// with a token; a crowd of idle sockets and sockets that send megabyte frames before hello; a real
// client must connect and be served promptly throughout, and the broker must stay small.

import { afterAll, expect, test } from "bun:test";
import { limits } from "../../src/limits.ts";
import { killAll, NodeProcess } from "../harness/node_process.ts";
import { RawSocket } from "../harness/raw_socket.ts";
import { connectClient } from "../harness/test_client.ts";
import { waitFor } from "../harness/wait_for.ts";

afterAll(killAll);

const rssMb = async (pid: number): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await Bun.file(`/proc/${pid}/status`).text())?.[1] ?? 0) / 1024;

test("100 silent sockets: the oldest strangers are evicted, and a real client still connects at once", async () => {
  const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--token", "s3cret"]);
  const silent = await Promise.all(Array.from({ length: 100 }, () => RawSocket.connect(node.host, node.port)));
  await waitFor(() => silent.filter((s) => s.closed).length >= 100 - limits.strangersMax, 3_000);
  // The evicted are the first to have connected, each told why.
  expect(silent.slice(0, 100 - limits.strangersMax).every((s) => s.closed)).toBe(true);
  expect(silent[0]!.frames[0]).toMatchObject({ op: "error", name: "HELLO_TIMEOUT" });
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    const client = await connectClient(node.address, { token: "s3cret", heartbeatMs: 0 });
    expect(performance.now() - started).toBeLessThan(1_000);
    await client.close();
  }
  silent.forEach((s) => s.close());
});

test("a silent socket gets HELLO_TIMEOUT after 2 s", async () => {
  const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
  const socket = await RawSocket.connect(node.host, node.port);
  const started = Date.now();
  await socket.waitClosed(5_000);
  expect(Date.now() - started).toBeGreaterThanOrEqual(limits.helloTimeoutMs - 50);
  expect(Date.now() - started).toBeLessThan(limits.helloTimeoutMs * 2 + 500);
  expect(socket.frames[0]).toMatchObject({ op: "error", name: "HELLO_TIMEOUT" });
});

test("20 strangers sending ~1 MB frames are cut at the header; the broker stays small and a peer's ping stays fast", async () => {
  const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--token", "s3cret"]);
  const peer = await connectClient(node.address, { token: "s3cret", heartbeatMs: 0 });
  const before = await rssMb(node.pid);
  const flooders = await Promise.all(Array.from({ length: 20 }, () => RawSocket.connect(node.host, node.port)));
  const big = { op: "x".repeat(1000 * 1024), id: 1 }; // under the old 1 MiB limit: once decoded, and echoed back
  for (const f of flooders) f.send(big);
  const pings: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await peer.request("ping", {});
    pings.push(performance.now() - started);
  }
  await waitFor(() => flooders.every((f) => f.closed), 5_000);
  expect(flooders.every((f) => f.frames[0]?.name === "FRAME_TOO_LARGE")).toBe(true);
  expect(Math.max(...pings)).toBeLessThan(500);
  expect((await rssMb(node.pid)) - before).toBeLessThan(50);
  await peer.close();
});
