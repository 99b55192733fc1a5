// Goal: a peer that stops reading is cut off as a slow consumer once its outbound buffer passes the
// bound (64 MiB), it gets the promised SLOW_CONSUMER error frame if it reads again in time, and the
// node keeps serving everyone else. Method: a subscriber process with heartbeats off is paused
// (SIGSTOP), a publisher floods its channel with ~80 MiB; the broker must log the SLOW_CONSUMER
// close and still answer; the subscriber, resumed, must report the error frame it received.

import { afterAll, expect, test } from "bun:test";
import { limits } from "../../src/limits.ts";
import { brokerClient, closeClients, startBroker } from "../harness/broker_fixture.ts";
import { NodeProcess, killAll } from "../harness/node_process.ts";
import { waitFor } from "../harness/wait_for.ts";

afterAll(async () => {
  await closeClients();
  await killAll();
});

test("a paused subscriber is disconnected as SLOW_CONSUMER past outboundBytesMax, receives that error, and the broker keeps serving", async () => {
  const broker = await startBroker();
  const subscriber = await NodeProcess.startScript("test/fixtures/subscriber.ts", [broker.address, "flood"], "subscribed");
  subscriber.pause();
  const publisher = await brokerClient(broker);
  const body = "x".repeat(64 * 1024);
  const rounds = Math.ceil((limits.outboundBytesMax * 1.25) / body.length);
  for (let i = 0; i < rounds; i++) {
    const receivers = await publisher.publishChannel("flood", body);
    if (receivers === 0) break; // already cut off
  }
  await broker.waitForLog(/WARN \S+ slow-consumer peer=sub-\d+ droppedBytes=\d+/, 10_000);
  subscriber.resume(); // within closeFlushMs: the frames it had not begun were dropped, the error is next
  await broker.waitForLog(/peer-closed peer=sub-\d+ role=subscriber reason=SLOW_CONSUMER/, 10_000);
  await subscriber.waitForLog(/peer-error .*name=SLOW_CONSUMER/, 10_000);
  await subscriber.waitForOutput("lost", 10_000);
  expect(await publisher.publishChannel("flood", "after")).toBe(0);
  const other = await brokerClient(broker);
  expect((await other.upstream.request("ping", {})).op).toBe("ok");
  await waitFor(() => broker.isRunning);
}, 60_000);
