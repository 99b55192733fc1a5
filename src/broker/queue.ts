// A queue: messages in FIFO order, competing consumers served round-robin within their prefetch
// windows, a bounded length with an overflow policy, and the counters stats needs.

import type { OverflowPolicy, QueueStats } from "../../protocols/broker.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Consumer } from "./consumer.ts";
import { Deque } from "./deque.ts";
import type { Message } from "./message.ts";
import { RateCounter } from "./rate_counter.ts";
import type { Session } from "./session.ts";

export interface QueueOptions {
  /** The session owning an exclusive queue; null for a shared queue. */
  owner: Session | null;
  maxLength: number;
  overflow: OverflowPolicy;
}

export class Queue {
  messages = new Deque<Message>();
  readonly consumers: Consumer[] = [];
  /** Deliveries of this queue not yet acked, across all sessions. */
  unacked = 0;
  readonly published = new RateCounter();
  readonly delivered = new RateCounter();
  readonly acked = new RateCounter();
  redelivered = 0;
  dropped = 0;
  deleted = false;
  private cursor = 0;
  private dispatchScheduled = false;

  constructor(
    readonly name: string,
    readonly options: QueueOptions,
    /** Called for each message that leaves the broker from here (dropped or purged). */
    private readonly release: (message: Message) => void,
  ) {}

  get owner(): Session | null {
    return this.options.owner;
  }

  /** Append a message; QUEUE_FULL under the reject policy, or drop the oldest. */
  enqueue(message: Message): void {
    if (this.messages.length >= this.options.maxLength) {
      if (this.options.overflow === "reject") {
        throw new PeerError("QUEUE_FULL", `queue "${this.name}" is at its maxLength ${this.options.maxLength}`);
      }
      const oldest = this.take()!;
      this.dropped++;
      this.release(oldest);
    }
    this.messages.pushBack(message);
    this.published.add();
    this.scheduleDispatch();
  }

  /** Put messages back at the head, in the given order, marked redelivered (nack, consumer gone). */
  requeueFront(messages: Message[]): void {
    for (let i = messages.length - 1; i >= 0; i--) {
      const message = messages[i]!;
      message.redelivered = true;
      this.messages.pushFront(message);
    }
    this.redelivered += messages.length;
    this.scheduleDispatch();
  }

  addConsumer(consumer: Consumer): void {
    this.consumers.push(consumer);
    this.scheduleDispatch();
  }

  removeConsumer(consumer: Consumer): void {
    const at = this.consumers.indexOf(consumer);
    if (at >= 0) this.consumers.splice(at, 1);
    if (this.cursor > at) this.cursor--;
  }

  /** Take the head message (to deliver, or to drop). */
  take(): Message | undefined {
    return this.messages.popFront();
  }

  /**
   * Drop every ready message. The queue is empty at once; the messages are released a chunk per
   * turn, so purging ten million never stalls the node.
   */
  purge(): number {
    const gone = this.messages;
    this.messages = new Deque<Message>();
    const count = gone.length;
    const releaseSome = (): void => {
      for (let i = 0; i < limits.releasePerTurnMax && gone.length > 0; i++) this.release(gone.popFront()!);
      if (gone.length > 0) setImmediate(releaseSome);
    };
    releaseSome();
    return count;
  }

  /** Deliver at the end of this turn, so a burst of publishes or acks is handled in one pass. */
  scheduleDispatch(): void {
    if (this.dispatchScheduled || this.consumers.length === 0 || this.deleted) return;
    this.dispatchScheduled = true;
    queueMicrotask(() => this.dispatch());
  }

  /** Round-robin: one message to each ready consumer in turn until messages or ready consumers run out. */
  private dispatch(): void {
    this.dispatchScheduled = false;
    const consumers = this.consumers;
    let idle = 0;
    while (this.messages.length > 0 && idle < consumers.length) {
      if (this.cursor >= consumers.length) this.cursor = 0;
      const consumer = consumers[this.cursor++]!;
      if (!consumer.ready) {
        idle++;
        continue;
      }
      idle = 0;
      consumer.session.deliver(consumer, this.take()!);
    }
  }

  stats(): QueueStats {
    return {
      queue: this.name,
      depth: this.messages.length,
      unacked: this.unacked,
      consumers: this.consumers.length,
      exclusive: this.owner !== null,
      maxLength: this.options.maxLength,
      overflow: this.options.overflow,
      published: this.published.total,
      delivered: this.delivered.total,
      acked: this.acked.total,
      redelivered: this.redelivered,
      dropped: this.dropped,
      rates: { published: this.published.rates(), delivered: this.delivered.rates(), acked: this.acked.rates() },
    };
  }
}
