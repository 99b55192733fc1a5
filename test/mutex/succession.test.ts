// Goal: the round survives the leader's death and then the death of each slave that takes over
// after it (killed at once, stopped, or dying at a chosen point of its takeover), as long as slaves
// remain: every survivor prints the same list, equal to an independent observer's, and wrote exactly
// once. A reused slave id is refused (exit 2, one line) without stalling the others, also when both
// start at the same moment. Method: real broker, leader and slave processes; kill -9 and SIGSTOP
// from here, failpoints for exact steps; an observer bound to the fanout judges.

import { afterEach, describe, expect, test } from "bun:test";
import type { SlaveResult } from "../../protocols/mutex.ts";
import { MutexObserver } from "../harness/mutex_observer.ts";
import { killAll, NodeProcess } from "../harness/node_process.ts";
import { waitFor } from "../harness/wait_for.ts";

const HEARTBEAT = ["--heartbeat-ms", "200"];
/** A round that hangs is the failure these tests look for: bound every wait well inside the test's time. */
const ROUND_MS = 15_000;
const observers: MutexObserver[] = [];
afterEach(async () => {
  for (const observer of observers.splice(0)) await observer.close();
  await killAll();
});

interface Round {
  broker: NodeProcess;
  leader: NodeProcess;
  slaves: NodeProcess[];
  observer: MutexObserver;
}

/** Broker, observer, leader, then the slaves one at a time (so they join in this order). */
async function startRound(ids: string[], options: { expected?: number; leaderEnv?: Record<string, string>; slaveEnv?: Record<string, Record<string, string>> } = {}): Promise<Round> {
  const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
  const observer = await MutexObserver.start(broker.address);
  observers.push(observer);
  const expected = String(options.expected ?? ids.length);
  const leader = await NodeProcess.start(["--role", "leader", "--slaves", expected, "--connect", broker.address, ...HEARTBEAT], { waitListening: false, env: options.leaderEnv });
  await leader.waitForLog("waiting-for-slaves", 10_000);
  const slaves: NodeProcess[] = [];
  for (const id of ids) {
    const slave = await NodeProcess.start(["--role", "slave", "--connect", broker.address, "--id", id, ...HEARTBEAT], { waitListening: false, env: options.slaveEnv?.[id] });
    await slave.waitForLog("ready round=", 10_000);
    slaves.push(slave);
  }
  return { broker, leader, slaves, observer };
}

/** Exit codes of these processes, or a failure naming the ones still running after ROUND_MS. */
async function exitsOf(processes: NodeProcess[]): Promise<number[]> {
  const hung = await Promise.race([Promise.all(processes.map((p) => p.exited)).then(() => false), Bun.sleep(ROUND_MS).then(() => true)]);
  if (hung) throw new Error(`hung: ${processes.filter((p) => p.isRunning).map((p) => p.args[p.args.indexOf("--id") + 1]).join(", ")} still running after ${ROUND_MS} ms`);
  return Promise.all(processes.map((p) => p.exited));
}

/** Every survivor exited 0 with the observer's list, and wrote exactly once. */
async function expectSurvivorsAgree(round: Round, survivors: NodeProcess[]): Promise<void> {
  expect(await exitsOf(survivors)).toEqual(survivors.map(() => 0));
  await waitFor(() => round.observer.done, 5_000);
  const reference = round.observer.reference;
  for (const slave of survivors) {
    const result = slave.lastJsonLine<SlaveResult>();
    expect(result?.list).toEqual(reference.doneList!);
    expect(reference.writers.filter((w) => w === result!.slave)).toHaveLength(1);
  }
  expect(reference.doneCount).toBe(reference.doneList!.length);
}

const idOf = (p: NodeProcess): string => p.args[p.args.indexOf("--id") + 1]!;

describe("succession", () => {
  test("the leader dies, then each slave that takes over dies at once (kill -9), twice: the other slaves finish", async () => {
    const round = await startRound(["s-1", "s-2", "s-3", "s-4", "s-5", "s-6"], { leaderEnv: { PEER_NODE_FAILPOINTS: "leader-crash-after-grants=2" } });
    expect(await round.leader.exited).not.toBe(0);
    const killed: NodeProcess[] = [];
    for (let k = 0; k < 2; k++) {
      // The moment one says it takes over, it dies: none of the others has read the fanout yet.
      const acting = await waitFor(() => round.slaves.find((s) => !killed.includes(s) && s.stderr.includes("taking-over")), 5_000, 1);
      acting.kill("SIGKILL");
      killed.push(acting);
      await acting.exited;
    }
    // Join order decides: the first two to join took over, in turn, and then the third.
    expect(killed.map(idOf)).toEqual(["s-1", "s-2"]);
    const survivors = round.slaves.filter((s) => !killed.includes(s));
    await expectSurvivorsAgree(round, survivors);
    expect(survivors.filter((s) => s.stderr.includes("taking-over")).map(idOf)).toEqual(["s-3"]);
  }, 40_000);

  for (const step of ["decided", "epoch", "announced", "granted"]) {
    test(`the slave that takes over dies at "${step}" of its takeover: the next one finishes the round`, async () => {
      const round = await startRound(["s-1", "s-2", "s-3", "s-4"], {
        leaderEnv: { PEER_NODE_FAILPOINTS: "leader-crash-after-grants=1" },
        slaveEnv: { "s-1": { PEER_NODE_FAILPOINTS: `acting-leader-crash-at=${step}` } },
      });
      const [first, ...rest] = round.slaves;
      expect(await exitsOf([round.leader, first!])).not.toContain(0);
      expect(first!.stderr).toMatch(/taking-over/);
      await expectSurvivorsAgree(round, rest);
      expect(rest[0]!.stderr).toMatch(/taking-over after=s-1/);
    }, 40_000);
  }

  test("the slave that took over hangs (SIGSTOP) once its leader message is out: declared dead, the next one finishes; resumed, it exits 3", async () => {
    const round = await startRound(["s-1", "s-2", "s-3", "s-4"], {
      leaderEnv: { PEER_NODE_FAILPOINTS: "leader-crash-after-grants=1" },
      slaveEnv: { "s-1": { PEER_NODE_FAILPOINTS: "acting-leader-hang-at=announced" } },
    });
    const [first, ...rest] = round.slaves;
    await expectSurvivorsAgree(round, rest);
    expect(first!.isRunning).toBe(true); // stopped, not dead: the broker declared it dead
    expect(round.broker.stderr).toMatch(/peer-dead peer=s-1 role=slave/);
    expect(rest[0]!.stderr).toMatch(/taking-over after=s-1/);
    first!.resume();
    expect(await exitsOf([first!])).toEqual([3]);
    expect(first!.stdout).toBe("");
  }, 40_000);

  test("the leader dies before the round starts, then the slave that takes over: the next one starts it", async () => {
    // The leader waits for 4 slaves and only 3 come: it is still waiting when it dies.
    // s-1 dies at the first step of its takeover, before it can announce a round (a kill from here
    // when it logs taking-over can land after its announcement, and then s-1 is on the roster).
    const round = await startRound(["s-1", "s-2", "s-3"], { expected: 4, slaveEnv: { "s-1": { PEER_NODE_FAILPOINTS: "acting-leader-crash-at=decided" } } });
    round.leader.kill("SIGKILL");
    const first = round.slaves[0]!;
    expect(await exitsOf([first])).not.toContain(0);
    expect(first.stderr).toMatch(/taking-over/);
    await expectSurvivorsAgree(round, round.slaves.slice(1));
    expect(round.observer.reference.roster).toEqual(["s-2", "s-3"]);
  }, 40_000);
});

describe("a reused slave id", () => {
  test("a second slave with a live slave's id exits 2 with one line; the round finishes for the others", async () => {
    const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
    const observer = await MutexObserver.start(broker.address);
    observers.push(observer);
    const leader = await NodeProcess.start(["--role", "leader", "--slaves", "3", "--connect", broker.address, ...HEARTBEAT], { waitListening: false });
    await leader.waitForLog("waiting-for-slaves", 10_000);
    const start = (id: string): Promise<NodeProcess> => NodeProcess.start(["--role", "slave", "--connect", broker.address, "--id", id, ...HEARTBEAT], { waitListening: false });
    const first = await start("s-1");
    await first.waitForLog("ready round=", 10_000);
    const second = await start("s-2");
    await second.waitForLog("ready round=", 10_000);
    const duplicate = await start("s-1");
    expect(await exitsOf([duplicate])).toEqual([2]);
    const third = await start("s-3");
    const round = { broker, leader, slaves: [first, second, third], observer };
    await expectSurvivorsAgree(round, round.slaves);
    expect(observer.reference.doneList).toHaveLength(3);
    const messages = duplicate.stderr.trim().split("\n").filter((l) => l.startsWith("peer-node:"));
    expect(messages).toEqual([`peer-node: slave s-1: another live slave already uses the id "s-1" on the broker at ${broker.address}; give each slave its own --id`]);
    expect(duplicate.stdout).toBe("");
    expect(await exitsOf([leader])).toEqual([0]);
  }, 40_000);

  test("two slaves with the same id started at the same moment: one is refused, the round finishes with the other", async () => {
    const broker = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", ...HEARTBEAT]);
    const observer = await MutexObserver.start(broker.address);
    observers.push(observer);
    const leader = await NodeProcess.start(["--role", "leader", "--slaves", "3", "--connect", broker.address, ...HEARTBEAT], { waitListening: false });
    await leader.waitForLog("waiting-for-slaves", 10_000);
    const args = (id: string): string[] => ["--role", "slave", "--connect", broker.address, "--id", id, ...HEARTBEAT];
    // Spawned together, before either has connected: the broker's hello decides.
    const twins = await Promise.all([NodeProcess.start(args("twin"), { waitListening: false }), NodeProcess.start(args("twin"), { waitListening: false })]);
    const others = await Promise.all([NodeProcess.start(args("s-a"), { waitListening: false }), NodeProcess.start(args("s-b"), { waitListening: false })]);
    const codes = await exitsOf([...twins, ...others]);
    expect(codes.slice(0, 2).sort()).toEqual([0, 2]);
    const winner = twins[codes[0] === 0 ? 0 : 1]!;
    const loser = twins[codes[0] === 0 ? 1 : 0]!;
    expect(loser.stderr).toMatch(/^peer-node: slave twin: another live slave already uses the id "twin"/m);
    await expectSurvivorsAgree({ broker, leader, slaves: [winner, ...others], observer }, [winner, ...others]);
    expect(observer.reference.roster).toEqual(["s-a", "s-b", "twin"]);
  }, 40_000);
});
