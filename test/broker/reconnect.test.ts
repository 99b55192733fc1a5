// Goal: a client that reconnects never loses or wrongly confirms a message: an ack for a delivery
// of an earlier connection is never sent (its number means another message on the new one), and
// everything unacked comes again. Method: a consumer behind the fault proxy acks each delivery a
// little later; the proxy cuts every connection mid-stream several times while confirmed messages
// flow; every message must be processed, the queue must end empty, nothing unacked.

import { afterAll, expect, test } from "bun:test";
import { BrokerClient, type Delivery } from "../../src/broker/broker_client.ts";
import { brokerClient, useBroker } from "../harness/broker_fixture.ts";
import { FaultProxy } from "../harness/fault_proxy.ts";
import { waitFor } from "../harness/wait_for.ts";

const broker = useBroker();
const proxies: FaultProxy[] = [];
afterAll(() => proxies.forEach((p) => p.stop()));

test("cut mid-stream every 150 ms while acks are in flight: 0 lost, acks never cross connections", async () => {
  const proxy = FaultProxy.start(broker().host, broker().port);
  proxies.push(proxy);
  const publisher = await brokerClient(broker());
  const consumer = await BrokerClient.connect(proxy.address, { heartbeatMs: 200 });
  const queue = "acks-across-reconnects";
  await publisher.declareQueue(queue);
  const processed = new Set<number>();
  let deliveries = 0;
  let redelivered = 0;
  let connection = 1;
  consumer.upstream.on("ready", () => connection++);
  await consumer.consume(queue, (d: Delivery) => {
    deliveries++;
    if (d.redelivered) redelivered++;
    // Work takes a while, some of it long: some acks come due only after the client has
    // reconnected. Work whose connection is gone is abandoned, as a crashed consumer's would be:
    // the broker requeues it. (Its late ack must not confirm another message on the new one.)
    const arrivedOn = connection;
    setTimeout(() => {
      if (arrivedOn === connection) processed.add(d.body as number);
      consumer.ack(d);
    }, deliveries % 4 === 0 ? 60 + (deliveries % 150) : 2 + (deliveries % 7));
  }, { prefetch: 50 });
  const total = 3_000;
  // Short-lived connections: the late acks of one carry small delivery numbers that exist on the
  // next, which is exactly when a stray ack would confirm the wrong message.
  let cuts = 0;
  const cutter = setInterval(() => {
    cuts++;
    proxy.dropAll();
  }, 150);
  for (let i = 0; i < total; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => publisher.publishConfirmed("", queue, i + j)));
    await Bun.sleep(20);
  }
  await waitFor(async () => {
    const stats = (await publisher.stats(queue)).queues[0]!;
    return processed.size === total && stats.depth === 0 && stats.unacked === 0;
  }, 15_000, 50).catch(async (err) => {
    const stats = (await publisher.stats(queue)).queues[0]!;
    throw new Error(`${err.message}: processed ${processed.size}/${total}, depth ${stats.depth}, unacked ${stats.unacked}`);
  });
  clearInterval(cutter);
  expect(cuts).toBeGreaterThanOrEqual(3);
  expect(processed.size).toBe(total);
  expect(redelivered).toBeGreaterThan(0); // the cuts really hit messages in flight
  expect((await publisher.stats(queue)).queues[0]!.acked).toBe(total); // each message acked once: no stray ack confirmed another
  await consumer.close();
}, 60_000);
