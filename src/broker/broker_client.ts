// The one TypeScript client of the broker, used by every role, test and benchmark. It rides on
// an Upstream (failover list, reconnects, heartbeats); gathers one-way publishes and acks made in
// one event-loop turn into publish.batch / ack frames (publishes first, so a reply published before
// its ack reaches the broker first); and after a reconnect re-declares what it declared and
// re-subscribes its consumers and channels. One-way publishes are at most once; publishConfirmed
// is not. Every call is typed by the broker protocol table (protocols/broker.ts).

import { broker, brokerClient, type BatchedDelivery, type BatchedPublish, type ExchangeType, type MemberInfo, type MessageProps, type OverflowPolicy, type StatsOk } from "../../protocols/broker.ts";
import type { CallName, ReplyOf, RequestOf } from "../../protocols/protocol.ts";
import { isOpaque } from "../../protocols/schema.ts";
import { nanoid } from "nanoid";
import { asPeerError, type PeerError } from "../errors.ts";
import { Emitter } from "../runtime/emitter.ts";
import { limits } from "../limits.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import type { Logger } from "../runtime/log.ts";
import { Upstream } from "../runtime/upstream.ts";
import { parseDeliverBatch, type Delivery } from "./deliver_batch.ts";
import { approximateBytes } from "./message.ts";
import { restore, Topology, type Declared } from "./recovery.ts";

export type { Delivery };

export interface ConsumeOptions {
  prefetch?: number;
  autoAck?: boolean;
  tag?: string;
}

export interface QueueOptions {
  exclusive?: boolean;
  maxLength?: number;
  overflow?: OverflowPolicy;
}

export interface BrokerClientOptions {
  id?: string;
  role?: string;
  token?: string;
  heartbeatMs?: number;
  /** The largest frame this client accepts; must be at least the broker's to consume or subscribe. */
  frameBytesMax?: number;
  /** How long to look for the broker at start (default limits.firstConnectWindowMs). */
  firstConnectWindowMs?: number;
  /** How long to look for it again after a loss: 0 is lost at once, Infinity for ever (default limits.upstreamLostWindowMs). */
  lostWindowMs?: number;
  log?: Logger;
}

export type BrokerClientEvents = {
  /** Something declared or subscribed before could not be restored after a reconnect. */
  "recovery-failed": [string, PeerError];
};

export class BrokerClient extends Emitter<BrokerClientEvents> {
  readonly upstream: Upstream;
  private readonly consumers = new Map<string, (delivery: Delivery) => void>();
  private readonly channelHandlers = new Map<string, (body: unknown, channel: string) => void>();
  private pendingAcks: number[] = [];
  /** Counts the connections this client has had; deliveries carry the one they came on. */
  private connection = 0;
  private pendingPublishes: BatchedPublish[] = [];
  private pendingPublishBytes = 0;
  private flushScheduled = false;
  /** What to restore after a reconnect (recovery.ts). */
  private readonly topology = new Topology();
  /** One-way publishes made while disconnected or recovering: sent, in order, once recovery is done. */
  private held: Array<{ entry: BatchedPublish; bytes: number }> = [];
  private heldBytes = 0;
  private recovering = false;
  private recovered: Promise<void> = Promise.resolve();

  private constructor(upstream: Upstream) {
    super();
    this.upstream = upstream;
    upstream.handlers.serve(brokerClient, {
      "deliver.batch": (m) => {
        const handler = this.consumers.get(m.tag);
        if (handler === undefined) return;
        for (const entry of m.messages) handler(fromEntry(m.tag, m.queue, entry, this.connection));
      },
      message: (m) => {
        this.channelHandlers.get(m.channel)?.(m.body, m.channel);
      },
      cancelled: (m) => {
        this.consumers.delete(m.tag);
        this.topology.forgetConsumer(m.tag);
      },
    });
    // The frame a client receives most, by hand (deliver_batch.ts); anything unusual goes the way above.
    upstream.handlers.fast("deliver.batch", (body) => {
      const parsed = parseDeliverBatch(body, this.connection);
      if (parsed === undefined) return undefined;
      const handler = this.consumers.get(parsed.tag);
      if (handler !== undefined) for (const delivery of parsed.deliveries) handler(delivery);
      return { id: undefined, reply: undefined };
    });
    upstream.on("ready", () => {
      if (++this.connection > 1) this.recovered = this.recover();
    });
    upstream.on("disconnected", () => {
      // Unacked deliveries are requeued by the broker; acks for them are meaningless now. One-way
      // publishes gathered but not yet written are held, with those made until recovery is done.
      this.pendingAcks = [];
      this.held = [...this.pendingPublishes.map((entry) => ({ entry, bytes: approximateBytes(entry[2]) })), ...this.held];
      this.heldBytes += this.pendingPublishBytes;
      this.pendingPublishes = [];
      this.pendingPublishBytes = 0;
    });
    upstream.on("lost", () => {
      this.held = [];
      this.heldBytes = 0;
    });
  }

  /** Connect to a broker at host:port (or the first of several that answers). */
  static async connect(addresses: string | readonly string[], options: BrokerClientOptions = {}): Promise<BrokerClient> {
    const upstream = new Upstream({
      addresses: typeof addresses === "string" ? [addresses] : addresses,
      serves: "broker",
      what: "broker",
      identity: { node: options.id ?? `client-${process.pid}-${nanoid(4)}`, role: options.role ?? "client" },
      token: options.token,
      heartbeatMs: options.heartbeatMs,
      frameBytesMax: options.frameBytesMax,
      firstConnectWindowMs: options.firstConnectWindowMs,
      // A broker client is long-lived: it looks for its broker again for ever, unless told otherwise.
      lostWindowMs: options.lostWindowMs ?? Infinity,
      handlers: new HandlerTable(),
      log: options.log,
    });
    const client = new BrokerClient(upstream);
    await upstream.connect();
    return client;
  }

  close(): Promise<void> {
    this.flushOutbox();
    return this.upstream.close();
  }

  /** Every request goes through here: what was gathered this turn is written before it. */
  private call<K extends CallName<typeof broker>>(op: K, args: RequestOf<typeof broker, K>, timeoutMs?: number): Promise<ReplyOf<typeof broker, K>> {
    this.flushOutbox();
    return this.upstream.call(broker, op, args, timeoutMs);
  }

  // ---- exchanges and queues ------------------------------------------------------------------

  async declareExchange(exchange: string, type: ExchangeType = "direct"): Promise<void> {
    await this.call("exchange.declare", { exchange, type });
    this.topology.record({ kind: "exchange", exchange, type });
  }

  /**
   * Declare a queue; no name (or "") gets a server-named exclusive queue. Returns the name. After a
   * reconnect a server-named queue is declared again under the same name, so reply addresses hold.
   */
  async declareQueue(queue = "", options: QueueOptions = {}): Promise<string> {
    const reply = await this.call("queue.declare", { queue, ...options });
    this.topology.record({ kind: "queue", queue: reply.queue, options: queue === "" ? { ...options, exclusive: true } : options });
    return reply.queue;
  }

  async deleteQueue(queue: string): Promise<number> {
    this.topology.forget({ kind: "queue", queue, options: {} });
    return (await this.call("queue.delete", { queue })).purged;
  }

  async purgeQueue(queue: string): Promise<number> {
    return (await this.call("queue.purge", { queue })).purged;
  }

  async bindQueue(queue: string, exchange: string, key = ""): Promise<void> {
    await this.call("queue.bind", { queue, exchange, key });
    this.topology.record({ kind: "bind", queue, exchange, key });
  }

  async unbindQueue(queue: string, exchange: string, key = ""): Promise<void> {
    this.topology.forget({ kind: "bind", queue, exchange, key });
    await this.call("queue.unbind", { queue, exchange, key });
  }

  // ---- publish and consume -------------------------------------------------------------------

  /**
   * Fire-and-forget publish (at most once). While disconnected or recovering it is held, and sent
   * once the broker is back and what this client declared is restored (so it cannot meet a missing
   * queue). Returns false, sending nothing, if the broker is lost for good or the hold is full.
   */
  publish(exchange: string, key: string, body: unknown, props?: MessageProps): boolean {
    const entry: BatchedPublish = [exchange, key, body];
    if (props !== undefined && (props.replyTo !== undefined || props.correlationId !== undefined || props.headers !== undefined)) {
      entry.push(props.replyTo ?? null, props.correlationId ?? null);
      if (props.headers !== undefined) entry.push(props.headers);
    }
    const bytes = approximateBytes(body);
    if (!this.upstream.isReady || this.recovering) return this.hold(entry, bytes);
    this.gather(entry, bytes);
    return true;
  }

  private hold(entry: BatchedPublish, bytes: number): boolean {
    if (this.upstream.lost !== null) return false;
    if (this.held.length >= limits.heldPublishesMax || this.heldBytes + bytes > limits.heldPublishBytesMax) return false;
    this.held.push({ entry, bytes });
    this.heldBytes += bytes;
    return true;
  }

  /** Into this turn's batch (a full one goes out at once). */
  private gather(entry: BatchedPublish, bytes: number): void {
    if (this.pendingPublishes.length >= limits.batchMessagesMax || this.pendingPublishBytes + bytes > limits.batchBytesMax) this.flushPublishes();
    this.pendingPublishes.push(entry);
    this.pendingPublishBytes += bytes;
    this.scheduleFlush();
  }

  /** Publish to a queue through the default exchange. */
  sendToQueue(queue: string, body: unknown, props?: MessageProps): boolean {
    return this.publish("", queue, body, props);
  }

  /**
   * Publish with a confirm: resolves once the broker has queued it, with the number of queues
   * reached. Waits for a recovery under way; while disconnected it fails with NOT_CONNECTED (definite).
   */
  async publishConfirmed(exchange: string, key: string, body: unknown, props?: MessageProps): Promise<number> {
    if (this.recovering) await this.recovered;
    return (await this.call("publish", { exchange, key, body, ...props })).routed;
  }

  async consume(queue: string, onMessage: (delivery: Delivery) => void, options: ConsumeOptions = {}): Promise<string> {
    // The tag is chosen here and the handler registered before the request goes out: deliveries
    // can arrive in the same read as the reply, before an awaiting caller would run again.
    const tag = options.tag ?? `ctag-${nanoid(10)}`;
    this.consumers.set(tag, onMessage);
    try {
      await this.call("consume", { queue, ...options, tag });
    } catch (err) {
      this.consumers.delete(tag);
      throw err;
    }
    this.topology.record({ kind: "consume", queue, tag, prefetch: options.prefetch, autoAck: options.autoAck });
    return tag;
  }

  async cancel(tag: string): Promise<void> {
    this.topology.forgetConsumer(tag);
    await this.call("cancel", { tag });
    this.consumers.delete(tag);
  }

  /**
   * Ack a delivery. Acks made in one event-loop turn travel in one frame. A delivery from an
   * earlier connection is not acked: its number means another message on this one, and the broker
   * requeued it when that connection closed, so it will come again (marked redelivered).
   */
  ack(delivery: Delivery): void {
    if (!this.current(delivery)) return;
    this.pendingAcks.push(delivery.delivery);
    if (this.pendingAcks.length >= limits.acksPerFrameMax) this.flushOutbox();
    this.scheduleFlush();
  }

  /** Nack a delivery: requeue (default) or drop. Sent at once, after anything gathered. */
  nack(delivery: Delivery, requeue = true): void {
    if (!this.current(delivery)) return;
    this.flushOutbox();
    this.upstream.send(broker, "nack", { delivery: delivery.delivery, requeue });
  }

  private current(delivery: Delivery): boolean {
    if (delivery.connection === this.connection && this.upstream.isReady) return true;
    this.upstream.log.debug("stale-ack-dropped", { delivery: delivery.delivery, from: delivery.connection, now: this.connection });
    return false;
  }

  /** Poll one message (basic.get); null when the queue is empty. Its tag is "" (no consumer). */
  async getMessage(queue: string, autoAck = false): Promise<Delivery | null> {
    const connection = this.connection;
    const reply = await this.call("queue.get", { queue, autoAck });
    if (reply.message === null) return null;
    const { headers, ...rest } = reply.message;
    return { ...rest, queue, tag: "", connection, ...(headers === undefined || isOpaque(headers) ? {} : { headers }) };
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushOutbox());
  }

  /** Publishes first, then acks: a worker's reply reaches the broker before the ack of its request. */
  private flushOutbox(): void {
    this.flushScheduled = false;
    this.flushPublishes();
    if (this.pendingAcks.length === 0) return;
    const deliveries = this.pendingAcks;
    this.pendingAcks = [];
    this.upstream.send(broker, "ack", deliveries.length === 1 ? { delivery: deliveries[0] } : { deliveries });
  }

  private flushPublishes(): void {
    const entries = this.pendingPublishes;
    if (entries.length === 0) return;
    this.pendingPublishes = [];
    this.pendingPublishBytes = 0;
    if (entries.length > 1) {
      this.upstream.send(broker, "publish.batch", { messages: entries });
      return;
    }
    const [exchange, key, body, replyTo, correlationId, headers] = entries[0]!;
    this.upstream.send(broker, "publish", { exchange: exchange || undefined, key, body, replyTo: replyTo ?? undefined, correlationId: correlationId ?? undefined, headers: headers ?? undefined });
  }

  // ---- pub/sub -------------------------------------------------------------------------------

  async subscribe(channel: string, onMessage: (body: unknown, channel: string) => void): Promise<void> {
    this.channelHandlers.set(channel, onMessage);
    await this.call("subscribe", { channel });
    this.topology.record({ kind: "subscribe", channel });
  }

  async unsubscribe(channel: string): Promise<void> {
    this.topology.forget({ kind: "subscribe", channel });
    this.channelHandlers.delete(channel);
    await this.call("unsubscribe", { channel });
  }

  /** Publish on a channel; resolves with how many subscribers it reached. */
  async publishChannel(channel: string, body: unknown): Promise<number> {
    return (await this.call("channel.publish", { channel, body })).receivers;
  }

  // ---- shared state --------------------------------------------------------------------------

  async get(key: string): Promise<unknown> {
    return (await this.call("get", { key })).value;
  }
  async set(key: string, value: unknown, ttlMs?: number): Promise<void> {
    await this.call("set", { key, value, ttlMs });
  }
  async del(...keys: string[]): Promise<number> {
    return (await this.call("del", { keys })).count;
  }
  async incr(key: string, by = 1): Promise<number> {
    return (await this.call("incr", { key, by })).value;
  }
  async rpush(key: string, ...values: unknown[]): Promise<number> {
    return (await this.call("rpush", { key, values })).length;
  }
  async lpush(key: string, ...values: unknown[]): Promise<number> {
    return (await this.call("lpush", { key, values })).length;
  }
  async lpop(key: string): Promise<unknown> {
    return (await this.call("lpop", { key })).value ?? null;
  }
  async lpopCount(key: string, count: number): Promise<unknown[]> {
    return (await this.call("lpop", { key, count })).values ?? [];
  }
  async rpop(key: string): Promise<unknown> {
    return (await this.call("rpop", { key })).value ?? null;
  }
  async rpopCount(key: string, count: number): Promise<unknown[]> {
    return (await this.call("rpop", { key, count })).values ?? [];
  }
  /** Block up to timeoutMs for an element of any of keys; null on timeout. */
  async blpop(keys: string | string[], timeoutMs: number): Promise<{ key: string; value: unknown } | null> {
    const list = Array.isArray(keys) ? keys : [keys];
    const reply = await this.call("blpop", { keys: list, timeoutMs }, (timeoutMs || limits.blockTimeoutMsMax) + limits.requestTimeoutMs);
    return reply.key === null ? null : { key: reply.key, value: reply.value };
  }
  async lrange(key: string, start: number, stop: number): Promise<unknown[]> {
    return (await this.call("lrange", { key, start, stop })).values;
  }
  async llen(key: string): Promise<number> {
    return (await this.call("llen", { key })).length;
  }
  async sadd(key: string, ...members: Array<string | number>): Promise<number> {
    return (await this.call("sadd", { key, members })).added;
  }
  async srem(key: string, ...members: Array<string | number>): Promise<number> {
    return (await this.call("srem", { key, members })).removed;
  }
  async smembers(key: string): Promise<Array<string | number>> {
    return (await this.call("smembers", { key })).members;
  }
  async srandmember(key: string, count?: number): Promise<Array<string | number>> {
    if (count === undefined) {
      const member = (await this.call("srandmember", { key })).member;
      return member == null ? [] : [member];
    }
    return (await this.call("srandmember", { key, count })).members ?? [];
  }

  // ---- membership and stats ------------------------------------------------------------------

  async members(role?: string): Promise<MemberInfo[]> {
    return (await this.call("members", { role })).members;
  }

  /** One queue's stats, or one page of every queue's (pass `next` back as `after`). */
  async stats(queue?: string, page: { after?: string; limit?: number } = {}): Promise<StatsOk> {
    return this.call("stats", { queue, ...page });
  }

  /**
   * After a reconnect: restore what this client declared, in dependency order, each step retried
   * while its error can pass; then send the publishes held meanwhile. A newer connection takes over.
   */
  private async recover(): Promise<void> {
    const connection = this.connection;
    const current = (): boolean => this.connection === connection && this.upstream.isReady;
    this.recovering = true;
    const done = await restore(this.topology.ordered(), {
      apply: (item) => this.restoreOne(item),
      current,
      failed: (item, error) => {
        this.upstream.log.warn("recovery-failed", { what: item.kind, reason: error.name, message: error.message });
        this.emit("recovery-failed", item.kind, error);
      },
      log: this.upstream.log,
    });
    if (!done || !current()) return;
    this.recovering = false;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const { entry, bytes } of held) this.gather(entry, bytes);
  }

  private restoreOne(item: Declared): Promise<unknown> {
    switch (item.kind) {
      case "exchange":
        return this.upstream.call(broker, "exchange.declare", { exchange: item.exchange, type: item.type });
      case "queue":
        return this.upstream.call(broker, "queue.declare", { queue: item.queue, ...item.options });
      case "bind":
        return this.upstream.call(broker, "queue.bind", { queue: item.queue, exchange: item.exchange, key: item.key });
      case "consume":
        return this.upstream.call(broker, "consume", { queue: item.queue, tag: item.tag, prefetch: item.prefetch, autoAck: item.autoAck });
      case "subscribe":
        return this.upstream.call(broker, "subscribe", { channel: item.channel });
    }
  }
}

/** [delivery, redelivered, exchange, key, body, replyTo?, correlationId?, headers?] */
function fromEntry(tag: string, queue: string, entry: BatchedDelivery, connection: number): Delivery {
  const [delivery, redelivered, exchange, key, body, replyTo, correlationId, headers] = entry;
  const out: Delivery = { tag, delivery, connection, queue, exchange: exchange ?? "", key, body, redelivered };
  if (replyTo != null) out.replyTo = replyTo;
  if (correlationId != null) out.correlationId = correlationId;
  if (headers != null && !isOpaque(headers)) out.headers = headers;
  return out;
}
