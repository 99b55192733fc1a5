// The broker's state for one client connection: its consumers, the deliveries it has not acked,
// its exclusive queues and its subscriptions. When the connection closes (or is declared dead by
// heartbeats) every unacked message goes back to its queue, marked redelivered.
//
// Deliveries made in one turn are gathered per consumer and sent as one deliver.batch frame
// (bounded by batchMessagesMax / batchBytesMax): per-frame encode and decode was the broker's
// main cost in profiles.


import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Connection } from "../runtime/connection.ts";
import type { Consumer } from "./consumer.ts";
import { Encoder } from "../wire/msgpack.ts";
import type { Message } from "./message.ts";
import type { Queue } from "./queue.ts";

interface Unacked {
  message: Message;
  queue: Queue;
  consumer: Consumer | null;
}

interface Outgoing {
  deliveries: number[];
  messages: Message[];
  bytes: number;
}

/** Composes deliver.batch frames around the stored bytes of their messages. */
const frames = new Encoder();

export class Session {
  readonly consumers = new Map<string, Consumer>();
  readonly exclusiveQueues = new Set<Queue>();
  readonly subscriptions = new Set<string>();
  /** Cleanups to run when the connection closes (e.g. leave a blpop wait). */
  readonly onClose: Array<() => void> = [];
  private readonly unacked = new Map<number, Unacked>();
  private nextDelivery = 1;
  private readonly outbox = new Map<Consumer, Outgoing>();
  private outboxBytes = 0;
  private flushScheduled = false;

  constructor(
    readonly connection: Connection,
    /** Called for each message that leaves the broker from here (acked, or dropped by a nack). */
    private readonly release: (message: Message) => void,
  ) {}

  get unackedCount(): number {
    return this.unacked.size;
  }

  /** Deliveries gathered plus bytes queued on the socket are past the high-water mark. */
  get congested(): boolean {
    return this.connection.congested || this.outboxBytes > limits.outboundBytesHighWater;
  }

  /** Hand one message to a consumer of this session; it goes out at the end of the turn. */
  deliver(consumer: Consumer, message: Message): void {
    const delivery = this.track(message, consumer.queue, consumer.autoAck ? null : consumer);
    let out = this.outbox.get(consumer);
    if (out !== undefined && (out.messages.length >= limits.batchMessagesMax || out.bytes + message.size > limits.batchBytesMax)) {
      this.sendBatch(consumer, out);
      out = undefined;
    }
    if (out === undefined) {
      out = { deliveries: [], messages: [], bytes: 0 };
      this.outbox.set(consumer, out);
    }
    out.deliveries.push(delivery);
    out.messages.push(message);
    out.bytes += message.size;
    this.outboxBytes += message.size;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flushDeliveries());
    }
  }

  private flushDeliveries(): void {
    this.flushScheduled = false;
    for (const [consumer, out] of this.outbox) {
      this.sendBatch(consumer, out);
      // The gathered bytes may have held this consumer back; the socket's own high-water mark
      // (and its writable event) decides from here.
      if (consumer.queue.messages.length > 0) consumer.queue.scheduleDispatch();
    }
  }

  private sendBatch(consumer: Consumer, out: Outgoing): void {
    this.outbox.delete(consumer);
    this.outboxBytes -= out.bytes;
    const n = out.messages.length;
    if (n === 0) return;
    // {op, tag, queue, messages: [[delivery, redelivered, ...the stored entry], …]}: the entries'
    // bytes are spliced as they were published, never decoded or encoded here.
    frames.begin();
    frames.writeMapHeader(4);
    frames.writeString("op");
    frames.writeString("deliver.batch");
    frames.writeString("tag");
    frames.writeString(consumer.tag);
    frames.writeString("queue");
    frames.writeString(consumer.queue.name);
    frames.writeString("messages");
    frames.writeArrayHeader(n);
    for (let i = 0; i < n; i++) {
      const message = out.messages[i]!;
      frames.writeArrayHeader(message.count + 2);
      frames.writeInt(out.deliveries[i]!);
      frames.writeBool(message.redelivered);
      frames.writeRange(message.slab.bytes, message.start, message.end);
    }
    this.connection.sendBody(frames.finish());
  }

  /** Record a delivery (or, for auto-ack, count it as done at once); returns its delivery number. */
  track(message: Message, queue: Queue, consumer: Consumer | null, autoAck = consumer === null): number {
    const delivery = this.nextDelivery++;
    queue.delivered.add();
    if (autoAck) {
      queue.acked.add();
      this.release(message);
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
      this.release(entry.message);
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
        this.release(entry.message);
      }
    }
    for (const [queue, messages] of byQueue) queue.requeueFront(messages);
    if (missing > 0) throw unknownDeliveries(missing, deliveries);
  }

  /** Everything unacked goes back to its queue. Called on close. */
  requeueAll(): number {
    this.outbox.clear();
    this.outboxBytes = 0;
    const byQueue = new Map<Queue, Message[]>();
    for (const entry of this.unacked.values()) {
      entry.queue.unacked--;
      if (entry.queue.deleted) {
        this.release(entry.message);
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
