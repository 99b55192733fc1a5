// Goal: the runtime's liveness machinery works against real processes: request timeouts,
// heartbeat death detection within the configured bound (both directions), and reconnection with
// backoff after the peer restarts on the same port. Method: broker processes, SIGSTOP/SIGKILL,
// a real PeerClient in the test process and a client fixture process.

import { afterEach, describe, expect, test } from "bun:test";
import { PeerError } from "../../src/errors.ts";
import { NodeProcess, killAll } from "../harness/node_process.ts";
import { connectClient } from "../harness/test_client.ts";
import { waitFor } from "../harness/wait_for.ts";

afterEach(killAll);

const HEARTBEAT_MS = 200;
const MISSED_MAX = 3;
// Death must be declared within missed × interval plus one check period, plus scheduling slack.
const DEATH_BOUND_MS = HEARTBEAT_MS * MISSED_MAX + HEARTBEAT_MS / 2 + 400;

describe("requests", () => {
  test("a request to a paused node times out with TIMEOUT (indefinite)", async () => {
    const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
    const client = await connectClient(node.address, { heartbeatMs: 0 });
    node.pause();
    const started = Date.now();
    const err = await client.request("ping", {}, 300).catch((e) => e);
    expect(err).toBeInstanceOf(PeerError);
    expect(err.name).toBe("TIMEOUT");
    expect(err.definite).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    node.resume();
    await client.close();
  });

  test("pending requests fail with CONNECTION_LOST when the node dies", async () => {
    const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
    const client = await connectClient(node.address, { heartbeatMs: 0, lostWindowMs: 0 });
    node.pause();
    const pending = client.request("ping", {}, 10_000).catch((e) => e);
    node.kill("SIGKILL");
    const err = await pending;
    expect(err.name).toBe("CONNECTION_LOST");
    await client.close();
  });

  test("pending requests are bounded: past the bound a request fails at once with TOO_MANY_PENDING (definite)", async () => {
    const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
    const client = await connectClient(node.address, { heartbeatMs: 0, pendingRequestsMax: 10 });
    node.pause();
    const waiting = Array.from({ length: 10 }, () => client.request("ping", {}, 500).catch((e) => e));
    const refused = await client.request("ping", {}, 500).catch((e) => e);
    expect(refused.name).toBe("TOO_MANY_PENDING");
    expect(refused.definite).toBe(true);
    expect((await Promise.all(waiting)).every((e) => e.name === "TIMEOUT")).toBe(true);
    node.resume();
    expect((await client.request("ping", {})).op).toBe("ok"); // slots are free again
    await client.close();
  });
});

describe("heartbeats", () => {
  test(`the client declares a SIGSTOPped node dead within ${DEATH_BOUND_MS} ms`, async () => {
    const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--heartbeat-ms", String(HEARTBEAT_MS)]);
    const client = await connectClient(node.address, { heartbeatMs: HEARTBEAT_MS, lostWindowMs: 0 });
    let deadAt = 0;
    client.on("dead", () => (deadAt = Date.now()));
    await Bun.sleep(HEARTBEAT_MS * 2); // steady state: pings flowing
    const stoppedAt = Date.now();
    node.pause();
    await waitFor(() => deadAt > 0, DEATH_BOUND_MS + 2_000);
    const detectionMs = deadAt - stoppedAt;
    console.log(`client detected paused node after ${detectionMs} ms (bound ${DEATH_BOUND_MS})`);
    expect(detectionMs).toBeGreaterThanOrEqual(HEARTBEAT_MS * MISSED_MAX - HEARTBEAT_MS);
    expect(detectionMs).toBeLessThanOrEqual(DEATH_BOUND_MS);
    node.resume();
  });

  test("the node declares a SIGSTOPped client process dead within the bound and logs it", async () => {
    const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--heartbeat-ms", String(HEARTBEAT_MS)]);
    const holder = await NodeProcess.startScript("test/fixtures/hold_client.ts", [node.address, String(HEARTBEAT_MS)], "ready");
    await node.waitForLog(/peer-ready peer=hold-/);
    await Bun.sleep(HEARTBEAT_MS * 2);
    const stoppedAt = Date.now();
    holder.pause();
    await node.waitForLog(/peer-dead peer=hold-/, DEATH_BOUND_MS + 2_000);
    const detectionMs = Date.now() - stoppedAt;
    console.log(`node detected paused client after ~${detectionMs} ms (bound ${DEATH_BOUND_MS})`);
    expect(detectionMs).toBeLessThanOrEqual(DEATH_BOUND_MS + 50);
  });

  test("default heartbeats detect a dead peer within 2 s", async () => {
    const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
    const client = await connectClient(node.address, { lostWindowMs: 0 });
    let deadAt = 0;
    client.on("dead", () => (deadAt = Date.now()));
    await Bun.sleep(600);
    const stoppedAt = Date.now();
    node.pause();
    await waitFor(() => deadAt > 0, 4_000);
    console.log(`default settings: detected after ${deadAt - stoppedAt} ms`);
    expect(deadAt - stoppedAt).toBeLessThanOrEqual(2_000);
    node.resume();
  });
});

describe("reconnect", () => {
  test("the client reconnects after the node is killed and restarted on the same port", async () => {
    const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--id", "first"]);
    const client = await connectClient(node.address, { heartbeatMs: HEARTBEAT_MS });
    let readyCount = 0;
    let disconnects = 0;
    client.on("ready", () => readyCount++);
    client.on("disconnected", () => disconnects++);
    const restarted = await node.restart("SIGKILL");
    await waitFor(() => readyCount === 1, 10_000);
    expect(disconnects).toBe(1);
    expect(client.isReady).toBe(true);
    expect((await client.request("ping", {})).op).toBe("ok");
    expect(restarted.port).toBe(node.port);
    await client.close();
  });

  test("a client gives up once its window after a loss is over, and says why", async () => {
    const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
    const client = await connectClient(node.address, { heartbeatMs: 0, lostWindowMs: 1_000 });
    let lost: PeerError | null = null;
    client.on("lost", (err) => (lost = err));
    const killedAt = Date.now();
    node.kill("SIGKILL");
    await waitFor(() => lost !== null, 10_000);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1_000);
    expect(lost!.name).toBe("NOT_CONNECTED");
    expect(lost!.message).toMatch(/within 1000 ms/);
    expect(client.isReady).toBe(false);
  });
});
