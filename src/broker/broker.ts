// The broker: exchanges, queues, pub/sub, the shared store and membership, attached to a node's
// server. Any role can host it (--embed-broker): it only adds handlers and listens to the
// server's connection events.

import { nanoid } from "nanoid";
import { brokerClient, type ExchangeType, type OverflowPolicy, type StatsOk } from "../../protocols/broker.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Connection } from "../runtime/connection.ts";
import type { HandlerTable } from "../runtime/handlers.ts";
import type { Logger } from "../runtime/log.ts";
import type { NodeServer } from "../runtime/node_server.ts";
import { registerBrokerHandlers } from "./broker_handlers.ts";
import { Consumer } from "./consumer.ts";
import { Exchange } from "./exchange.ts";
import { Membership } from "./membership.ts";
import { MESSAGE_OVERHEAD_BYTES, type Message } from "./message.ts";
import { PubSub } from "./pubsub.ts";
import { Queue } from "./queue.ts";
import { Session } from "./session.ts";
import { Store } from "./store.ts";

export interface QueueDeclareArgs {
  queue: string;
  exclusive?: boolean;
  maxLength?: number;
  overflow?: OverflowPolicy;
}

export class Broker {
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  readonly pubsub = new PubSub();
  readonly membership = new Membership(this.pubsub);
  readonly store: Store;
  private bindings = 0;
  private consumerCount = 0;
  /** Bytes held (message slabs, per-message overhead, stored values), bounded by bytesMax. */
  bytes = 0;
  private readonly releaseBytes = (n: number): void => {
    this.bytes -= n;
  };
  /** A message leaves the broker: its overhead, and its slab once nothing else holds it. */
  private readonly releaseMessage = (message: Message): void => {
    const slab = message.slab;
    this.bytes -= MESSAGE_OVERHEAD_BYTES + (--slab.live === 0 ? slab.bytes.length : 0);
  };

  constructor(
    private readonly log: Logger,
    /** The broker node's frame limit: what it accepts, and so what every consumer must accept. */
    readonly frameBytesMax: number = limits.frameBytesMax,
    readonly bytesMax: number = limits.brokerBytesMax,
  ) {
    this.store = new Store({ reserve: (n) => this.reserve(n), release: this.releaseBytes });
  }

  /** Add the broker's ops to a node's handler table (before it listens: hello lists what it serves). */
  register(handlers: HandlerTable): void {
    registerBrokerHandlers(this, handlers);
  }

  /** Track the sessions of `server`'s connections. */
  attach(server: NodeServer): void {
    server.admissionChecks.push((connection) => this.membership.checkUnique(connection));
    server.on("ready", (connection) => {
      connection.context = new Session(connection, this.releaseMessage);
      this.membership.join(connection);
    });
    server.on("dead", (connection) => this.membership.markDead(connection));
    server.on("closed", (connection) => this.closeSession(connection));
    server.on("writable", (connection) => {
      const session = connection.context;
      if (session instanceof Session) for (const consumer of session.consumers.values()) consumer.queue.scheduleDispatch();
    });
  }

  stop(): void {
    this.store.stop();
  }

  /** The largest message accepted: any delivery of it, with its envelope, fits in frameBytesMax. */
  get messageBytesMax(): number {
    return this.frameBytesMax - limits.deliveryEnvelopeBytesMax;
  }

  /**
   * A connection that consumes or subscribes must accept every message this broker accepts: its
   * frameBytesMax (announced in hello) at least the broker's. Otherwise a message could be queued
   * that it can never be sent.
   */
  checkReceiver(connection: Connection): void {
    if (connection.peerFrameBytesMax < this.frameBytesMax) {
      throw new PeerError("PRECONDITION_FAILED", `this broker accepts frames of ${this.frameBytesMax} bytes, so a consumer or subscriber must accept that much; this connection accepts ${connection.peerFrameBytesMax} (frameBytesMax in hello)`);
    }
  }

  session(connection: Connection): Session {
    const session = connection.context;
    if (!(session instanceof Session)) throw new PeerError("HELLO_REQUIRED", "no broker session on this connection");
    return session;
  }

  // ---- exchanges -----------------------------------------------------------------------------

  declareExchange(name: string, type: ExchangeType): void {
    const existing = this.exchanges.get(name);
    if (existing !== undefined) {
      if (existing.type !== type) throw new PeerError("PRECONDITION_FAILED", `exchange "${name}" exists with type ${existing.type}, not ${type}`);
      return;
    }
    if (this.exchanges.size >= limits.exchangesMax) throw new PeerError("LIMIT_EXCEEDED", `the broker holds its maximum of ${limits.exchangesMax} exchanges`);
    this.exchanges.set(name, new Exchange(name, type));
  }

  deleteExchange(name: string): void {
    const exchange = this.exchanges.get(name);
    if (exchange === undefined) throw new PeerError("NOT_FOUND", `no exchange "${name}"`);
    this.bindings -= exchange.bindingCount;
    this.exchanges.delete(name);
  }

  // ---- queues --------------------------------------------------------------------------------

  declareQueue(session: Session, args: QueueDeclareArgs): Queue {
    const named = args.queue !== "";
    const existing = named ? this.queues.get(args.queue) : undefined;
    if (existing !== undefined) {
      this.checkAccess(session, existing);
      const differs =
        (args.exclusive !== undefined && args.exclusive !== (existing.owner !== null)) ||
        (args.maxLength !== undefined && args.maxLength !== existing.options.maxLength) ||
        (args.overflow !== undefined && args.overflow !== existing.options.overflow);
      if (differs) throw new PeerError("PRECONDITION_FAILED", `queue "${args.queue}" exists with other properties`);
      return existing;
    }
    if (this.queues.size >= limits.queuesMax) throw new PeerError("LIMIT_EXCEEDED", `the broker holds its maximum of ${limits.queuesMax} queues`);
    const name = named ? args.queue : `q.gen-${nanoid(12)}`;
    const exclusive = !named || args.exclusive === true;
    const queue = new Queue(
      name,
      { owner: exclusive ? session : null, maxLength: args.maxLength ?? limits.queueLengthDefault, overflow: args.overflow ?? "reject" },
      this.releaseMessage,
    );
    this.queues.set(name, queue);
    if (exclusive) session.exclusiveQueues.add(queue);
    return queue;
  }

  /** A queue that must exist, usable by `session` (exclusive queues belong to one connection). */
  queueFor(session: Session, name: string): Queue {
    const queue = this.queues.get(name);
    if (queue === undefined) throw new PeerError("NOT_FOUND", `no queue "${name}"`);
    this.checkAccess(session, queue);
    return queue;
  }

  deleteQueue(queue: Queue): number {
    queue.deleted = true;
    this.queues.delete(queue.name);
    for (const exchange of this.exchanges.values()) this.bindings -= exchange.unbindAll(queue);
    for (const consumer of [...queue.consumers]) {
      consumer.session.consumers.delete(consumer.tag);
      this.consumerCount--;
      // AMQP's basic.cancel from the server: the consumer learns its queue is gone.
      consumer.session.connection.send(brokerClient, "cancelled", { tag: consumer.tag, queue: queue.name });
    }
    queue.consumers.length = 0;
    queue.owner?.exclusiveQueues.delete(queue);
    return queue.purge();
  }

  bind(queue: Queue, exchangeName: string, key: string): void {
    const exchange = this.exchangeFor(exchangeName);
    if (this.bindings >= limits.bindingsMax) throw new PeerError("LIMIT_EXCEEDED", `the broker holds its maximum of ${limits.bindingsMax} bindings`);
    if (exchange.bind(queue, key)) this.bindings++;
  }

  unbind(queue: Queue, exchangeName: string, key: string): void {
    if (this.exchangeFor(exchangeName).unbind(queue, key)) this.bindings--;
  }

  // ---- publish and consume -------------------------------------------------------------------

  /** The largest entry (the message's part of a delivery) this broker accepts. */
  private checkSize(message: Message): void {
    if (message.size > this.messageBytesMax) {
      throw new PeerError("LIMIT_EXCEEDED", `a message of ${message.size} bytes exceeds this broker's ${this.messageBytesMax} (its frameBytesMax less room for the delivery's envelope)`);
    }
  }

  /** Route and enqueue; returns the number of queues it reached. */
  publish(message: Message): number {
    this.checkSize(message);
    if (message.exchange === "") {
      const queue = this.queues.get(message.key);
      if (queue === undefined) throw new PeerError("NOT_FOUND", `no queue "${message.key}" (default exchange routes by queue name)`);
      this.store1(queue, message);
      return 1;
    }
    const exchange = this.exchangeFor(message.exchange);
    let routed = 0;
    let full: PeerError | null = null;
    for (const queue of exchange.route(message.key)) {
      try {
        this.store1(queue, routed === 0 ? message : message.copy());
        routed++;
      } catch (err) {
        // One full queue must not starve the other bound queues; report after routing the rest.
        full ??= err as PeerError;
      }
    }
    if (full !== null && routed === 0) throw full;
    return routed;
  }

  /** Charge a message (and its slab, if it is the first over it) and enqueue it; undone if the queue refuses. */
  private store1(queue: Queue, message: Message): void {
    const slab = message.slab;
    this.reserve(MESSAGE_OVERHEAD_BYTES + (slab.live === 0 ? slab.bytes.length : 0));
    slab.live++;
    try {
      queue.enqueue(message);
    } catch (err) {
      this.releaseMessage(message);
      throw err;
    }
  }

  consume(session: Session, queue: Queue, tag: string, prefetch: number, autoAck: boolean): Consumer {
    if (session.consumers.has(tag)) throw new PeerError("PRECONDITION_FAILED", `consumer tag "${tag}" is already in use on this connection`);
    if (this.consumerCount >= limits.consumersMax) throw new PeerError("LIMIT_EXCEEDED", `the broker holds its maximum of ${limits.consumersMax} consumers`);
    const consumer = new Consumer(tag, queue, session, prefetch, autoAck);
    session.consumers.set(tag, consumer);
    queue.addConsumer(consumer);
    this.consumerCount++;
    return consumer;
  }

  cancel(session: Session, tag: string): void {
    const consumer = session.consumers.get(tag);
    if (consumer === undefined) throw new PeerError("NOT_FOUND", `no consumer "${tag}" on this connection`);
    session.consumers.delete(tag);
    consumer.queue.removeConsumer(consumer);
    this.consumerCount--;
  }

  /** basic.get: take one message now, or null. */
  get(session: Session, queue: Queue, autoAck: boolean): { message: Message; delivery: number } | null {
    const message = queue.take();
    if (message === undefined) return null;
    return { message, delivery: session.track(message, queue, null, autoAck) };
  }

  // ---- sessions ------------------------------------------------------------------------------

  private closeSession(connection: Connection): void {
    const session = connection.context;
    if (!(session instanceof Session)) return;
    connection.context = undefined;
    for (const tag of [...session.consumers.keys()]) this.cancel(session, tag);
    const requeued = session.requeueAll();
    if (requeued > 0) this.log.info("requeued", { peer: connection.peer?.node, messages: requeued });
    for (const queue of [...session.exclusiveQueues]) this.deleteQueue(queue);
    this.pubsub.unsubscribeAll(session);
    for (const cleanup of session.onClose.splice(0)) cleanup();
    this.membership.leave(connection);
  }

  /** One queue's stats, or a page of all queues in name order (those after `after`, at most `limit`). */
  stats(queueName: string | undefined, after: string | undefined, limit: number): StatsOk {
    let queues: Queue[];
    let next: string | undefined;
    if (queueName !== undefined) {
      const queue = this.queues.get(queueName);
      if (queue === undefined) throw new PeerError("NOT_FOUND", `no queue "${queueName}"`);
      queues = [queue];
    } else {
      const names = [...this.queues.keys()].sort();
      const from = after === undefined ? 0 : names.findIndex((n) => n > after);
      const page = from < 0 ? [] : names.slice(from, from + limit);
      queues = page.map((n) => this.queues.get(n)!);
      if (from >= 0 && from + limit < names.length) next = page.at(-1);
    }
    return {
      queues: queues.map((q) => q.stats()),
      next,
      connections: this.membership.list().length,
      consumers: this.consumerCount,
      channels: this.pubsub.channelCount,
      keys: this.store.size,
      bytes: this.bytes,
      bytesMax: this.bytesMax,
    };
  }

  private exchangeFor(name: string): Exchange {
    const exchange = this.exchanges.get(name);
    if (exchange === undefined) throw new PeerError("NOT_FOUND", `no exchange "${name}"`);
    return exchange;
  }

  private checkAccess(session: Session, queue: Queue): void {
    if (queue.owner !== null && queue.owner !== session) {
      throw new PeerError("RESOURCE_LOCKED", `queue "${queue.name}" is exclusive to another connection`);
    }
  }

  private reserve(bytes: number): void {
    if (this.bytes + bytes > this.bytesMax) {
      throw new PeerError("LIMIT_EXCEEDED", `the broker holds its maximum of ${this.bytesMax} bytes of messages and values`);
    }
    this.bytes += bytes;
  }
}
