// Goal: no client, and no crowd of clients, can make the broker stall or hoard memory by asking
// for big replies it does not read. Method: a list whose lrange is a ~900 KB reply; processes that
// pipeline hundreds of them and never read, then ones that read slowly; meanwhile a healthy client
// with the default heartbeats (dead after 1.5 s) pings: it must never wait long or be declared dead, and the broker's RSS
// must stay small.

import { afterAll, expect, test } from "bun:test";
import { brokerClient, closeClients, startBroker } from "../harness/broker_fixture.ts";
import { killAll, NodeProcess } from "../harness/node_process.ts";

afterAll(async () => {
  await closeClients();
  await killAll();
});

const rssMb = async (pid: number): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await Bun.file(`/proc/${pid}/status`).text())?.[1] ?? 0) / 1024;

test("10 clients pipelining 200 lranges of 900 KB and not reading: pings stay fast, nobody is declared dead, RSS stays small", async () => {
  const broker = await startBroker();
  const setup = await brokerClient(broker);
  for (let i = 0; i < 100_000; i += 50_000) await setup.rpush("big", ...Array.from({ length: 50_000 }, (_, j) => `v${String(i + j).padStart(7, "0")}`));
  const healthy = await brokerClient(broker, { heartbeatMs: 500 });
  let disconnected = 0;
  healthy.upstream.on("disconnected", () => disconnected++);
  const before = await rssMb(broker.pid);
  const stalls = await Promise.all(Array.from({ length: 10 }, () => NodeProcess.startScript("test/fixtures/lrange_flood.ts", [broker.address, "big", "200", "stall"], "sent")));
  const pings: number[] = [];
  const until = Date.now() + 3_000;
  while (Date.now() < until) {
    const started = performance.now();
    await healthy.upstream.request("ping", {});
    pings.push(performance.now() - started);
    await Bun.sleep(50);
  }
  const grownMb = (await rssMb(broker.pid)) - before;
  console.log(`stalled readers: max ping ${Math.round(Math.max(...pings))} ms over ${pings.length} pings; broker RSS +${Math.round(grownMb)} MB`);
  // Ten Bun processes booting on two cores cost the pinger too; what must never happen is a stall
  // near the heartbeat bound (the old broker encoded each client's whole backlog in one go).
  expect(Math.max(...pings)).toBeLessThan(600);
  expect(disconnected).toBe(0);
  expect(grownMb).toBeLessThan(200); // held back: about two replies per connection, not 180 MB each
  expect(stalls.every((p) => p.isRunning)).toBe(true); // held, not cut off
  for (const p of stalls) p.kill();

  // Clients that do read get every reply, a couple at a time, while the healthy one keeps pinging.
  const readers = await Promise.all(Array.from({ length: 3 }, () => NodeProcess.startScript("test/fixtures/lrange_flood.ts", [broker.address, "big", "30", "read"], "sent")));
  const readerPings: number[] = [];
  while (readers.some((r) => !r.stdout.includes("replies 30"))) {
    const started = performance.now();
    await healthy.upstream.request("ping", {});
    readerPings.push(performance.now() - started);
    await Bun.sleep(50);
  }
  console.log(`reading clients: max ping ${Math.round(Math.max(...readerPings))} ms over ${readerPings.length} pings`);
  expect(Math.max(...readerPings)).toBeLessThan(250); // one big reply per client per turn, then everyone else
  expect(disconnected).toBe(0);
}, 60_000);
