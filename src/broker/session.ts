// The broker's state for one client connection: its consumers, the deliveries it has not acked,
// its exclusive queues and its subscriptions. When the connection closes (or is declared dead by
// heartbeats) every unacked message goes back to its queue, marked redelivered.

import type { Deliver } from "../../protocols/broker.ts";
import { PeerError } from "../errors.ts";
import type { Connection } from "../runtime/connection.ts";
import type { Consumer } from "./consumer.ts";
import type { Message } from "./message.ts";
import type { Queue } from "./queue.ts";

interface Unacked {
  message: Message;
  queue: Queue;
  consumer: Consumer | null;
}

export class Session {
  readonly consumers = new Map<string, Consumer>();
  readonly exclusiveQueues = new Set<Queue>();
  readonly subscriptions = new Set<string>();
  /** Cleanups to run when the connection closes (e.g. leave a blpop wait). */
  readonly onClose: Array<() => void> = [];
  private readonly unacked = new Map<number, Unacked>();
  private nextDelivery = 1;

  constructor(
    readonly connection: Connection,
    /** Called with the bytes freed when an acked message leaves the broker. */
    private readonly release: (bytes: number) => void,
  ) {}

  get unackedCount(): number {
    return this.unacked.size;
  }

  /** Send one message to a consumer of this session. */
  deliver(consumer: Consumer, message: Message): void {
    const delivery = this.track(message, consumer.queue, consumer.autoAck ? null : consumer);
    // Every field costs encode and decode time on both sides: `exchange` is left out when it is
    // the default exchange (""), and `redelivered` when false.
    const frame: Deliver = { op: "deliver", tag: consumer.tag, delivery, queue: consumer.queue.name, key: message.key, body: message.body } as Deliver;
    if (message.exchange !== "") frame.exchange = message.exchange;
    if (message.redelivered) frame.redelivered = true;
    if (message.props !== undefined) Object.assign(frame, message.props);
    this.connection.send(frame);
  }

  /** Record a delivery (or, for auto-ack, count it as done at once); returns its delivery number. */
  track(message: Message, queue: Queue, consumer: Consumer | null, autoAck = consumer === null): number {
    const delivery = this.nextDelivery++;
    queue.delivered.add();
    if (autoAck) {
      queue.acked.add();
      this.release(message.bytes);
    } else {
      this.unacked.set(delivery, { message, queue, consumer });
      queue.unacked++;
      if (consumer) consumer.unacked++;
    }
    return delivery;
  }

  /** Ack deliveries. Unknown numbers: NOT_FOUND after the known ones are acked. */
  ack(deliveries: readonly number[]): void {
    let missing = 0;
    for (const delivery of deliveries) {
      const entry = this.take(delivery);
      if (entry === undefined) {
        missing++;
        continue;
      }
      entry.queue.acked.add();
      this.release(entry.message.bytes);
    }
    if (missing > 0) throw unknownDeliveries(missing, deliveries);
  }

  /** Nack deliveries: requeue at the head (in delivery order) or drop. */
  nack(deliveries: readonly number[], requeue: boolean): void {
    let missing = 0;
    const byQueue = new Map<Queue, Message[]>();
    for (const delivery of [...deliveries].sort((a, b) => a - b)) {
      const entry = this.take(delivery);
      if (entry === undefined) {
        missing++;
        continue;
      }
      if (requeue && !entry.queue.deleted) {
        let list = byQueue.get(entry.queue);
        if (list === undefined) byQueue.set(entry.queue, (list = []));
        list.push(entry.message);
      } else {
        entry.queue.dropped++;
        this.release(entry.message.bytes);
      }
    }
    for (const [queue, messages] of byQueue) queue.requeueFront(messages);
    if (missing > 0) throw unknownDeliveries(missing, deliveries);
  }

  /** Everything unacked goes back to its queue; consumers are removed. Called on close. */
  requeueAll(): number {
    const byQueue = new Map<Queue, Message[]>();
    for (const entry of this.unacked.values()) {
      entry.queue.unacked--;
      if (entry.queue.deleted) {
        this.release(entry.message.bytes);
        continue;
      }
      let list = byQueue.get(entry.queue);
      if (list === undefined) byQueue.set(entry.queue, (list = []));
      list.push(entry.message);
    }
    const count = this.unacked.size;
    this.unacked.clear();
    // Map iteration is delivery order, so each queue gets its messages back in their order.
    for (const [queue, messages] of byQueue) queue.requeueFront(messages);
    return count;
  }

  /** Remove a delivery from the unacked set, opening its consumer's prefetch window. */
  private take(delivery: number): Unacked | undefined {
    const entry = this.unacked.get(delivery);
    if (entry === undefined) return undefined;
    this.unacked.delete(delivery);
    entry.queue.unacked--;
    if (entry.consumer) {
      entry.consumer.unacked--;
      if (entry.queue.messages.length > 0) entry.queue.scheduleDispatch();
    }
    return entry;
  }
}

function unknownDeliveries(missing: number, deliveries: readonly number[]): PeerError {
  const sample = deliveries.length === 1 ? ` ${deliveries[0]}` : "";
  return new PeerError("NOT_FOUND", `${missing} unknown delivery number(s)${sample}: already acked, or never delivered on this connection`);
}
