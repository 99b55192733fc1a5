// Goal: the fault proxy really injects each fault, and the runtime reacts as designed: latency
// slows replies, a cut mid-frame ends the connection without harming the node, a partition is
// detected by heartbeats and the client reconnects after heal. Method: broker process behind a
// FaultProxy, real PeerClient.

import { afterEach, expect, test } from "bun:test";
import { FaultProxy } from "../harness/fault_proxy.ts";
import { NodeProcess, killAll } from "../harness/node_process.ts";
import { connectClient } from "../harness/test_client.ts";
import { waitFor } from "../harness/wait_for.ts";

const proxies: FaultProxy[] = [];
afterEach(async () => {
  for (const proxy of proxies.splice(0)) proxy.stop();
  await killAll();
});

async function setup(heartbeatMs = 200): Promise<{ node: NodeProcess; proxy: FaultProxy }> {
  const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--heartbeat-ms", String(heartbeatMs)]);
  const proxy = FaultProxy.start(node.host, node.port);
  proxies.push(proxy);
  return { node, proxy };
}

test("latency: a ping round trip through a 100 ms proxy takes at least 200 ms", async () => {
  const { proxy } = await setup();
  const client = await connectClient(proxy.address, { heartbeatMs: 0 });
  proxy.delayMs = 100;
  const started = performance.now();
  await client.request("ping", {});
  const elapsed = performance.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(195);
  expect(proxy.forwarded.toUpstream).toBeGreaterThan(0);
  await client.close();
});

test("cut mid-frame: the client sees the connection drop, the node keeps serving", async () => {
  const { node, proxy } = await setup();
  const client = await connectClient(proxy.address, { heartbeatMs: 0, lostWindowMs: 0 });
  let disconnected = false;
  client.on("disconnected", () => (disconnected = true));
  proxy.cutMidFrame("toUpstream");
  const reply = client.request("ping", { pad: "x".repeat(200) }, 3_000).catch((e) => e);
  expect((await reply).name).toBe("CONNECTION_LOST");
  await waitFor(() => disconnected);
  const direct = await connectClient(node.address, { heartbeatMs: 0 });
  expect((await direct.request("ping", {})).op).toBe("ok");
  await direct.close();
});

test("partition: heartbeats declare the node dead; after heal the client reconnects", async () => {
  const { proxy } = await setup(200);
  const client = await connectClient(proxy.address, { heartbeatMs: 200 });
  let dead = 0;
  let ready = 0;
  client.on("dead", () => dead++);
  client.on("ready", () => ready++);
  proxy.partition({ lossy: true });
  await waitFor(() => dead === 1, 3_000);
  proxy.heal();
  await waitFor(() => ready === 1, 10_000);
  expect((await client.request("ping", {})).op).toBe("ok");
  await client.close();
});

test("dropAll: every proxied connection is cut at once", async () => {
  const { proxy } = await setup();
  const a = await connectClient(proxy.address, { heartbeatMs: 0, lostWindowMs: 0 });
  const b = await connectClient(proxy.address, { heartbeatMs: 0, lostWindowMs: 0 });
  expect(proxy.connectionCount).toBe(2);
  proxy.dropAll();
  await waitFor(() => !a.isReady && !b.isReady);
});
