// Goal: the one upstream helper every role uses finds the right node, refuses the wrong one with a
// clear line, fails over along its address list, waits for a node whose role may serve later, and
// does not take our own stop for a loss. Method: real broker and coordinator processes, real roles.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PeerError } from "../../src/errors.ts";
import { freePort } from "../../src/launcher/local_process.ts";
import { ExitCode } from "../../src/runtime/exit.ts";
import { Upstream } from "../../src/runtime/upstream.ts";
import { startBroker } from "../harness/broker_fixture.ts";
import { killAll, NodeProcess } from "../harness/node_process.ts";
import { waitFor } from "../harness/wait_for.ts";

afterAll(killAll);

const upstream = (addresses: string[], extra: Partial<ConstructorParameters<typeof Upstream>[0]> = {}): Upstream =>
  new Upstream({ addresses, serves: "broker", what: "broker", identity: { node: `t-${Math.random().toString(36).slice(2, 7)}`, role: "client" }, heartbeatMs: 0, ...extra });

describe("the wrong kind of node", () => {
  test("a worker pointed at a broker exits 1 with one line: '<address> is a broker, not a coordinator'", async () => {
    const broker = await startBroker();
    const worker = await NodeProcess.start(["--role", "worker", "--connect", broker.address], { waitListening: false });
    expect(await worker.exited).toBe(ExitCode.startup);
    const lines = worker.stderr.trim().split("\n").filter((l) => l.startsWith("peer-node:"));
    expect(lines).toEqual([expect.stringContaining(`${broker.address} is a broker, not a coordinator`)]);
  });

  test("a slave pointed at a coordinator exits 1: '<address> is a coordinator, not a broker'", async () => {
    const dir = mkdtempSync(join(tmpdir(), "peer-node-upstream-"));
    writeFileSync(join(dir, "in.txt"), "a b c\n");
    const coordinator = await NodeProcess.start(["--role", "coordinator", "--listen", "127.0.0.1:0", "--input", "in.txt", "--out", "out"], { cwd: dir });
    const slave = await NodeProcess.start(["--role", "slave", "--connect", coordinator.address], { waitListening: false });
    expect(await slave.exited).toBe(ExitCode.startup);
    expect(slave.stderr).toContain(`${coordinator.address} is a coordinator, not a broker`);
  });

  test("a role that may serve later (a passive backup) is tried again until the window ends", async () => {
    const broker = await startBroker();
    const waiting = upstream([broker.address], { serves: "mapreduce", what: "coordinator", pendingRoles: ["broker"], firstConnectWindowMs: 600 });
    const started = Date.now();
    const err = (await waiting.connect().catch((e) => e)) as PeerError;
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(err.name).toBe("WRONG_PEER");
    expect(err.message).toContain("is a broker, not a coordinator");
    const refused = upstream([broker.address], { serves: "mapreduce", what: "coordinator", firstConnectWindowMs: 5_000 });
    const refusedAt = Date.now();
    expect(((await refused.connect().catch((e) => e)) as PeerError).name).toBe("WRONG_PEER");
    expect(Date.now() - refusedAt).toBeLessThan(1_000); // final: no point in waiting
  });
});

describe("failover", () => {
  test("addresses are tried in order; after a loss the current one first, then the others", async () => {
    const dead = `127.0.0.1:${freePort()}`; // nothing listens there
    const [b1, b2] = await Promise.all([startBroker(["--id", "b1"]), startBroker(["--id", "b2"])]);
    const client = upstream([dead, b1.address, b2.address], { lostWindowMs: 5_000 });
    expect((await client.connect()).node).toBe("b1");
    const ready: string[] = [];
    client.on("ready", (hello) => ready.push(hello.node));
    b1.kill("SIGKILL");
    await waitFor(() => ready.length === 1, 5_000);
    expect(ready).toEqual(["b2"]);
    expect(client.address).toBe(b2.address);
    expect((await client.request("ping", {})).op).toBe("ok");
    await client.close();
  });

  test("our own close is not a loss: no disconnected, no lost", async () => {
    const broker = await startBroker();
    const client = upstream([broker.address], { lostWindowMs: 0 });
    await client.connect();
    const events: string[] = [];
    client.on("disconnected", () => events.push("disconnected"));
    client.on("lost", () => events.push("lost"));
    await client.close();
    await Bun.sleep(200);
    expect(events).toEqual([]);
    expect(client.lost).toBeNull();
  });

  test("with window 0, losing the peer is final at once", async () => {
    const broker = await startBroker();
    const client = upstream([broker.address], { lostWindowMs: 0 });
    await client.connect();
    let lost: PeerError | null = null;
    client.on("lost", (err) => (lost = err));
    broker.kill("SIGKILL");
    await waitFor(() => lost !== null, 3_000);
    expect(lost!.name).toBe("CONNECTION_LOST");
    expect(lost!.message).toContain(`lost the broker at ${broker.address}`);
  });
});
