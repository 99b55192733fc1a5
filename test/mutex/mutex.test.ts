// Goal: every live slave returns the same list, one number per live slave, in the fanout's total
// order — with no failures for N = 1…100, and when a slave dies before or after its grant, when
// the leader dies mid-round, and with delays injected between some slaves and the broker. Bad
// input and a dead broker give a one-line error and a non-zero exit. Method: real leader, slave
// and broker processes; kill -9, SIGSTOP, failpoints for exact steps, the fault proxy.
// (Deaths of the slaves that take over, and reused ids: succession.test.ts.)

import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { SlaveResult } from "../../protocols/mutex.ts";
import { runMutex } from "../../src/mutex/run_mutex.ts";
import { FaultProxy } from "../harness/fault_proxy.ts";
import { NodeProcess, killAll, REPO_ROOT } from "../harness/node_process.ts";
import { waitFor } from "../harness/wait_for.ts";

// Real processes on a shared 2-core machine: bun's 5 s default is too tight (bunfig's is not read).
setDefaultTimeout(60_000);

const COMMAND = [process.execPath, `${REPO_ROOT}/bin/node.ts`];
const HEARTBEAT = ["--heartbeat-ms", "200"];
const proxies: FaultProxy[] = [];
afterEach(async () => {
  for (const proxy of proxies.splice(0)) proxy.stop();
  await killAll();
});

function expectIdentical(lists: number[][], length: number): void {
  expect(lists.length).toBeGreaterThan(0);
  for (const list of lists) {
    expect(list).toEqual(lists[0]!);
    expect(list).toHaveLength(length);
    for (const v of list) expect(v >= 0 && v <= 1000 && Number.isInteger(v)).toBe(true);
  }
}

async function startSlave(broker: string, id: string, extra: string[] = [], env?: Record<string, string>): Promise<NodeProcess> {
  const slave = await NodeProcess.start(["--role", "slave", "--connect", broker, "--id", id, ...HEARTBEAT, ...extra], { waitListening: false, env });
  await slave.waitForLog("ready round=", 10_000);
  return slave;
}

/** One at a time, each ready before the next starts: they join the broker in this order. */
async function startInOrder(broker: string, ids: string[]): Promise<NodeProcess[]> {
  const slaves: NodeProcess[] = [];
  for (const id of ids) slaves.push(await startSlave(broker, id));
  return slaves;
}

function resultOf(slave: NodeProcess): SlaveResult | null {
  return slave.lastJsonLine<SlaveResult>();
}

describe("no failures", () => {
  for (const n of [1, 3, 7, 17, 100]) {
    test(`${n} slave(s): identical lists of length ${n}`, async () => {
      const result = await runMutex({ slaves: n, command: COMMAND });
      expect(result.lists).toHaveLength(n);
      expect(result.identical).toBe(true);
      expectIdentical(result.lists, n);
    }, 120_000);
  }
});

describe("failures", () => {
  test("a slave that hangs before it was granted is declared dead by heartbeats; the round completes for the others", async () => {
    const leader = await NodeProcess.start(["--role", "leader", "--slaves", "4", "--embed-broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
    const live = await Promise.all(["a", "b", "c"].map((id) => startSlave(leader.address, `s-${id}`)));
    // It says ready, then stops (SIGSTOP) before asking to write: the leader waits for its request
    // until the heartbeats declare it dead.
    const victim = await startSlave(leader.address, "s-victim", [], { PEER_NODE_FAILPOINTS: "slave-hang-before-request" });
    const startedMs = Date.now();
    await Promise.all(live.map((s) => s.exited));
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(400); // it really waited for the death
    expectIdentical(live.map((s) => resultOf(s)!.list), 3);
    expect(await leader.exited).toBe(0);
    expect(leader.stderr).toMatch(/peer-dead peer=s-victim/);
    expect(victim.stdout).toBe("");
  });

  test("a slave that dies right after its grant, before appending: re-granted to others, no hole, no duplicate", async () => {
    const leader = await NodeProcess.start(["--role", "leader", "--slaves", "5", "--embed-broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
    const live = await Promise.all(["a", "b", "c", "d"].map((id) => startSlave(leader.address, `s-${id}`)));
    const victim = await startSlave(leader.address, "s-victim", [], { PEER_NODE_FAILPOINTS: "slave-crash-on-grant" });
    expect(await victim.exited).not.toBe(0); // it was granted (at some point) and died holding the grant
    await Promise.all(live.map((s) => s.exited));
    expectIdentical(live.map((s) => resultOf(s)!.list), 4);
    expect(leader.stderr).toMatch(/granted-slave-died slave=s-victim/);
  });

  test("the leader dies mid-round: the live slave that joined first takes over and the lists stay identical", async () => {
    const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
    const leader = await NodeProcess.start(["--role", "leader", "--slaves", "6", "--connect", broker.address, ...HEARTBEAT], { waitListening: false, env: { PEER_NODE_FAILPOINTS: "leader-crash-after-grants=3" } });
    await leader.waitForLog("waiting-for-slaves", 10_000);
    const slaves = await startInOrder(broker.address, ["s-4", "s-1", "s-6", "s-2", "s-5", "s-3"]);
    expect(await leader.exited).not.toBe(0);
    const codes = await Promise.all(slaves.map((s) => s.exited));
    expect(codes).toEqual([0, 0, 0, 0, 0, 0]);
    expectIdentical(slaves.map((s) => resultOf(s)!.list), 6);
    expect(slaves[0]!.stderr).toMatch(/taking-over/);
    for (const s of slaves.slice(1)) expect(s.stderr).not.toMatch(/taking-over/);
  });

  test("the leader hangs mid-round (SIGSTOP): heartbeats declare it dead, the live slave that joined first takes over", async () => {
    const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
    const leader = await NodeProcess.start(["--role", "leader", "--slaves", "5", "--connect", broker.address, ...HEARTBEAT], { waitListening: false, env: { PEER_NODE_FAILPOINTS: "leader-hang-after-grants=2" } });
    await leader.waitForLog("waiting-for-slaves", 10_000);
    const slaves = await startInOrder(broker.address, ["s-1", "s-2", "s-3", "s-4", "s-5"]);
    expect(await Promise.all(slaves.map((s) => s.exited))).toEqual([0, 0, 0, 0, 0]);
    expectIdentical(slaves.map((s) => resultOf(s)!.list), 5);
    expect(leader.isRunning).toBe(true); // it never died: it was declared dead
    expect(broker.stderr).toMatch(/peer-dead peer=leader-\S+ role=leader/);
    expect(slaves[0]!.stderr).toMatch(/taking-over/);
  });

  test("the leader dies before the round starts: the new leader starts it", async () => {
    const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
    const leader = await NodeProcess.start(["--role", "leader", "--slaves", "10", "--connect", broker.address, ...HEARTBEAT], { waitListening: false });
    await leader.waitForLog("waiting-for-slaves", 10_000);
    const slaves = await Promise.all(["s-1", "s-2", "s-3"].map((id) => startSlave(broker.address, id)));
    leader.kill("SIGKILL");
    await Promise.all(slaves.map((s) => s.exited));
    expectIdentical(slaves.map((s) => resultOf(s)!.list), 3);
  });

  test("if the broker dies, slaves exit non-zero with a clear message", async () => {
    const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
    await NodeProcess.start(["--role", "leader", "--slaves", "5", "--connect", broker.address, ...HEARTBEAT], { waitListening: false });
    const slaves = await Promise.all(["s-1", "s-2"].map((id) => startSlave(broker.address, id)));
    broker.kill("SIGKILL");
    for (const slave of slaves) {
      expect(await slave.exited).toBe(3);
      expect(slave.stderr).toMatch(/peer-node: slave s-\d: lost the broker at 127\.0\.0\.1:\d+ .*; exiting/);
    }
  });
});

test("one total order: slaves behind proxies with different delays see the same list", async () => {
  const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
  const leader = await NodeProcess.start(["--role", "leader", "--slaves", "8", "--connect", broker.address], { waitListening: false });
  await leader.waitForLog("waiting-for-slaves", 10_000);
  const slaves: NodeProcess[] = [];
  for (let i = 0; i < 8; i++) {
    let address = broker.address;
    if (i % 2 === 0) {
      const proxy = FaultProxy.start(broker.host, broker.port);
      proxy.delayMs = [3, 17, 41, 80][i / 2]!;
      proxies.push(proxy);
      address = proxy.address;
    }
    slaves.push(await startSlave(address, `s-${i}`));
  }
  await Promise.all(slaves.map((s) => s.exited));
  const lists = slaves.map((s) => resultOf(s)!.list);
  expectIdentical(lists, 8);
  expect(proxies.every((p) => p.forwarded.toClient > 0)).toBe(true);
});

describe("bad input", () => {
  test.each([
    [["run", "mutex", "--slaves", "0"], /--slaves: 0 is out of range 1\.\.1000/],
    [["run", "mutex", "--slaves", "5000"], /--slaves: 5000 is out of range/],
    [["run", "mutex"], /run mutex needs --slaves N/],
    [["run", "chess", "--slaves", "3"], /unknown scenario "chess"/],
    [["--role", "leader", "--slaves", "0", "--embed-broker"], /--slaves: 0 is below the minimum 1/],
    [["--role", "leader", "--slaves", "3"], /needs --connect host:port or --embed-broker/],
    [["--role", "leader", "--slaves", "3", "--embed-broker", "--connect", "127.0.0.1:1"], /exclude each other/],
    [["--role", "broker", "--embed-broker"], /does not take --embed-broker/],
  ])("%p → one-line error, exit 2", async (args, pattern) => {
    const node = await NodeProcess.start(args as string[], { waitListening: false });
    expect(await node.exited).toBe(2);
    await waitFor(() => node.stderr.length > 0);
    expect(node.stderr.trim().split("\n")).toHaveLength(1);
    expect(node.stderr).toMatch(pattern as RegExp);
  });

  test("no broker reachable → one-line error, exit 1", async () => {
    const node = await NodeProcess.start(["--role", "slave", "--connect", "127.0.0.1:1"], { waitListening: false });
    expect(await node.exited).toBe(1);
    await waitFor(() => node.stderr.length > 0);
    expect(node.stderr.trim().split("\n").filter((l) => l.startsWith("peer-node:"))).toEqual([expect.stringMatching(/cannot reach the broker: no broker at 127\.0\.0\.1:1 within 3000 ms/)]);
  });
});
