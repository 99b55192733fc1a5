// The one TypeScript client of the broker, used by every role, test and benchmark. It wraps a
// PeerClient (reconnect, heartbeats); gathers one-way publishes and acks made in one event-loop
// turn into publish.batch / ack frames (publishes first, so a reply published before its ack
// reaches the broker first); and after a reconnect re-declares what it declared and re-subscribes
// its consumers and channels. One-way publishes are at most once; publishConfirmed is not.

import type { BatchedDelivery, BatchedPublish, ChannelMessage, ConsumeOk, Deliver, DeliverBatch, ExchangeType, MemberInfo, MessageProps, OverflowPolicy, QueueDeclareOk, StatsOk } from "../../protocols/broker.ts";
import type { OkReply } from "../../protocols/core.ts";
import { nanoid } from "nanoid";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { sizeOf } from "../wire/fields.ts";
import type { Logger } from "../runtime/log.ts";
import { PeerClient, type ClientOptions } from "../runtime/peer_client.ts";

export interface Delivery extends MessageProps {
  tag: string;
  delivery: number;
  queue: string;
  exchange: string;
  key: string;
  body: unknown;
  redelivered: boolean;
}

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
  reconnect?: boolean;
  log?: Logger;
}

type Recovery = () => Promise<unknown>;

export class BrokerClient {
  readonly peer: PeerClient;
  private readonly consumers = new Map<string, (delivery: Delivery) => void>();
  private readonly channelHandlers = new Map<string, (body: unknown, channel: string) => void>();
  private pendingAcks: number[] = [];
  private pendingPublishes: BatchedPublish[] = [];
  private pendingPublishBytes = 0;
  private flushScheduled = false;
  /** What to replay after a reconnect, in order: declares, binds, consumers, subscriptions. */
  private readonly recovery = new Map<string, Recovery>();

  private constructor(peer: PeerClient) {
    this.peer = peer;
    peer.handlers.on("deliver", (m) => {
      const handler = this.consumers.get(m.tag as string);
      if (handler === undefined) return;
      const delivery = m as unknown as Deliver;
      delivery.exchange ??= "";
      delivery.redelivered ??= false;
      handler(delivery as Delivery);
    });
    peer.handlers.on("deliver.batch", (m) => {
      const batch = m as unknown as DeliverBatch;
      const handler = this.consumers.get(batch.tag);
      if (handler === undefined || !Array.isArray(batch.messages)) return;
      for (const entry of batch.messages) handler(fromEntry(batch, entry));
    });
    peer.handlers.on("message", (m) => {
      const message = m as unknown as ChannelMessage;
      this.channelHandlers.get(message.channel)?.(message.body, message.channel);
    });
    peer.handlers.on("cancelled", (m) => {
      this.consumers.delete(m.tag as string);
      this.recovery.delete(`consume:${m.tag}`);
    });
    let first = true;
    peer.on("ready", () => {
      if (first) {
        first = false;
        return;
      }
      void this.recover();
    });
    peer.on("disconnected", () => {
      // Unacked deliveries are requeued by the broker; acks for them are meaningless now. One-way
      // publishes not yet written are lost, as documented (use publishConfirmed).
      this.pendingAcks = [];
      this.pendingPublishes = [];
      this.pendingPublishBytes = 0;
    });
  }

  /** Connect to a broker at host:port. */
  static async connect(address: string, options: BrokerClientOptions = {}): Promise<BrokerClient> {
    const clientOptions: Omit<ClientOptions, "host" | "port"> = {
      identity: { node: options.id ?? `client-${process.pid}-${Math.random().toString(36).slice(2, 6)}`, role: options.role ?? "client" },
      token: options.token,
      heartbeatMs: options.heartbeatMs,
      reconnect: options.reconnect,
      log: options.log,
    };
    const client = new BrokerClient(PeerClient.forAddress(address, clientOptions));
    await client.peer.connect();
    return client;
  }

  close(): Promise<void> {
    this.flushOutbox();
    return this.peer.close();
  }

  /** Every request goes through here: what was gathered this turn is written before it. */
  private request<T extends object = OkReply>(message: { op: string; [field: string]: unknown }, timeoutMs?: number): Promise<T & OkReply> {
    this.flushOutbox();
    return this.peer.request<T>(message, timeoutMs);
  }

  // ---- exchanges and queues ------------------------------------------------------------------

  async declareExchange(exchange: string, type: ExchangeType = "direct"): Promise<void> {
    const run = () => this.request({ op: "exchange.declare", exchange, type });
    await run();
    this.recovery.set(`exchange:${exchange}`, run);
  }

  /** Declare a queue; no name (or "") gets a server-named exclusive queue. Returns the name. */
  async declareQueue(queue = "", options: QueueOptions = {}): Promise<string> {
    const reply = await this.request<QueueDeclareOk>({ op: "queue.declare", queue, ...options });
    if (queue !== "") this.recovery.set(`queue:${queue}`, () => this.request({ op: "queue.declare", queue, ...options }));
    return reply.queue;
  }

  async deleteQueue(queue: string): Promise<number> {
    this.recovery.delete(`queue:${queue}`);
    return (await this.request<{ purged: number }>({ op: "queue.delete", queue })).purged;
  }

  async purgeQueue(queue: string): Promise<number> {
    return (await this.request<{ purged: number }>({ op: "queue.purge", queue })).purged;
  }

  async bindQueue(queue: string, exchange: string, key = ""): Promise<void> {
    const run = () => this.request({ op: "queue.bind", queue, exchange, key });
    await run();
    this.recovery.set(`bind:${queue}:${exchange}:${key}`, run);
  }

  async unbindQueue(queue: string, exchange: string, key = ""): Promise<void> {
    this.recovery.delete(`bind:${queue}:${exchange}:${key}`);
    await this.request({ op: "queue.unbind", queue, exchange, key });
  }

  // ---- publish and consume -------------------------------------------------------------------

  /** Fire-and-forget publish. Returns false if not connected (nothing was sent). */
  publish(exchange: string, key: string, body: unknown, props?: MessageProps): boolean {
    if (!this.peer.isReady) return false;
    const entry: BatchedPublish = [exchange, key, body];
    if (props !== undefined && (props.replyTo !== undefined || props.correlationId !== undefined || props.headers !== undefined)) {
      entry.push(props.replyTo ?? null, props.correlationId ?? null);
      if (props.headers !== undefined) entry.push(props.headers);
    }
    const bytes = sizeOf(body);
    if (this.pendingPublishes.length >= limits.batchMessagesMax || this.pendingPublishBytes + bytes > limits.batchBytesMax) this.flushPublishes();
    this.pendingPublishes.push(entry);
    this.pendingPublishBytes += bytes;
    this.scheduleFlush();
    return true;
  }

  /** Publish to a queue through the default exchange. */
  sendToQueue(queue: string, body: unknown, props?: MessageProps): boolean {
    return this.publish("", queue, body, props);
  }

  /** Publish with a confirm: resolves once the broker has queued it, with the number of queues reached. */
  async publishConfirmed(exchange: string, key: string, body: unknown, props?: MessageProps): Promise<number> {
    return (await this.request<{ routed: number }>({ op: "publish", exchange, key, body, ...props })).routed;
  }

  async consume(queue: string, onMessage: (delivery: Delivery) => void, options: ConsumeOptions = {}): Promise<string> {
    // The tag is chosen here and the handler registered before the request goes out: deliveries
    // can arrive in the same read as the reply, before an awaiting caller would run again.
    const tag = options.tag ?? `ctag-${nanoid(10)}`;
    const subscribe = () => this.request<ConsumeOk>({ op: "consume", queue, ...options, tag });
    this.consumers.set(tag, onMessage);
    try {
      await subscribe();
    } catch (err) {
      this.consumers.delete(tag);
      throw err;
    }
    this.recovery.set(`consume:${tag}`, subscribe);
    return tag;
  }

  async cancel(tag: string): Promise<void> {
    this.recovery.delete(`consume:${tag}`);
    await this.request({ op: "cancel", tag });
    this.consumers.delete(tag);
  }

  /** Ack a delivery. Acks made in one event-loop turn travel in one frame. */
  ack(delivery: Delivery | number): void {
    this.pendingAcks.push(typeof delivery === "number" ? delivery : delivery.delivery);
    if (this.pendingAcks.length >= 65_536) this.flushOutbox();
    this.scheduleFlush();
  }

  /** Nack a delivery: requeue (default) or drop. Sent at once, after anything gathered. */
  nack(delivery: Delivery | number, requeue = true): void {
    this.flushOutbox();
    this.peer.send({ op: "nack", delivery: typeof delivery === "number" ? delivery : delivery.delivery, requeue });
  }

  /** Poll one message (basic.get); null when the queue is empty. */
  async getMessage(queue: string, autoAck = false): Promise<Omit<Delivery, "tag"> | null> {
    const reply = await this.request<{ message: Omit<Delivery, "tag" | "queue"> | null }>({ op: "queue.get", queue, autoAck });
    return reply.message === null ? null : { ...reply.message, queue };
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
    this.peer.send(deliveries.length === 1 ? { op: "ack", delivery: deliveries[0] } : { op: "ack", deliveries });
  }

  private flushPublishes(): void {
    const entries = this.pendingPublishes;
    if (entries.length === 0) return;
    this.pendingPublishes = [];
    this.pendingPublishBytes = 0;
    if (entries.length > 1) {
      this.peer.send({ op: "publish.batch", messages: entries });
      return;
    }
    const [exchange, key, body, replyTo, correlationId, headers] = entries[0]!;
    const message: Record<string, unknown> = exchange === "" ? { op: "publish", key, body } : { op: "publish", exchange, key, body };
    if (replyTo != null) message.replyTo = replyTo;
    if (correlationId != null) message.correlationId = correlationId;
    if (headers != null) message.headers = headers;
    this.peer.send(message);
  }

  // ---- pub/sub -------------------------------------------------------------------------------

  async subscribe(channel: string, onMessage: (body: unknown, channel: string) => void): Promise<void> {
    const run = () => this.request({ op: "subscribe", channel });
    this.channelHandlers.set(channel, onMessage);
    await run();
    this.recovery.set(`subscribe:${channel}`, run);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.recovery.delete(`subscribe:${channel}`);
    this.channelHandlers.delete(channel);
    await this.request({ op: "unsubscribe", channel });
  }

  /** Publish on a channel; resolves with how many subscribers it reached. */
  async publishChannel(channel: string, body: unknown): Promise<number> {
    return (await this.request<{ receivers: number }>({ op: "channel.publish", channel, body })).receivers;
  }

  // ---- shared state --------------------------------------------------------------------------

  async get(key: string): Promise<unknown> {
    return (await this.request<{ value: unknown }>({ op: "get", key })).value;
  }
  async set(key: string, value: unknown, ttlMs?: number): Promise<void> {
    await this.request({ op: "set", key, value, ttlMs });
  }
  async del(...keys: string[]): Promise<number> {
    return (await this.request<{ count: number }>({ op: "del", keys })).count;
  }
  async incr(key: string, by = 1): Promise<number> {
    return (await this.request<{ value: number }>({ op: "incr", key, by })).value;
  }
  async rpush(key: string, ...values: unknown[]): Promise<number> {
    return (await this.request<{ length: number }>({ op: "rpush", key, values })).length;
  }
  async lpush(key: string, ...values: unknown[]): Promise<number> {
    return (await this.request<{ length: number }>({ op: "lpush", key, values })).length;
  }
  async lpop(key: string): Promise<unknown> {
    return (await this.request<{ value: unknown }>({ op: "lpop", key })).value;
  }
  async lpopCount(key: string, count: number): Promise<unknown[]> {
    return (await this.request<{ values: unknown[] }>({ op: "lpop", key, count })).values;
  }
  async rpop(key: string): Promise<unknown> {
    return (await this.request<{ value: unknown }>({ op: "rpop", key })).value;
  }
  async rpopCount(key: string, count: number): Promise<unknown[]> {
    return (await this.request<{ values: unknown[] }>({ op: "rpop", key, count })).values;
  }
  /** Block up to timeoutMs for an element of any of keys; null on timeout. */
  async blpop(keys: string | string[], timeoutMs: number): Promise<{ key: string; value: unknown } | null> {
    const list = Array.isArray(keys) ? keys : [keys];
    const reply = await this.request<{ key: string | null; value: unknown }>({ op: "blpop", keys: list, timeoutMs }, (timeoutMs || 3_600_000) + 5_000);
    return reply.key === null ? null : { key: reply.key, value: reply.value };
  }
  async lrange(key: string, start: number, stop: number): Promise<unknown[]> {
    return (await this.request<{ values: unknown[] }>({ op: "lrange", key, start, stop })).values;
  }
  async llen(key: string): Promise<number> {
    return (await this.request<{ length: number }>({ op: "llen", key })).length;
  }
  async sadd(key: string, ...members: Array<string | number>): Promise<number> {
    return (await this.request<{ added: number }>({ op: "sadd", key, members })).added;
  }
  async srem(key: string, ...members: Array<string | number>): Promise<number> {
    return (await this.request<{ removed: number }>({ op: "srem", key, members })).removed;
  }
  async smembers(key: string): Promise<Array<string | number>> {
    return (await this.request<{ members: Array<string | number> }>({ op: "smembers", key })).members;
  }
  async srandmember(key: string, count?: number): Promise<Array<string | number>> {
    if (count === undefined) {
      const member = (await this.request<{ member: string | number | null }>({ op: "srandmember", key })).member;
      return member === null ? [] : [member];
    }
    return (await this.request<{ members: Array<string | number> }>({ op: "srandmember", key, count })).members;
  }

  // ---- membership and stats ------------------------------------------------------------------

  async members(role?: string): Promise<MemberInfo[]> {
    return (await this.request<{ members: MemberInfo[] }>({ op: "members", role })).members;
  }

  async stats(queue?: string): Promise<StatsOk> {
    return this.request<StatsOk>({ op: "stats", queue });
  }

  private async recover(): Promise<void> {
    for (const [what, run] of this.recovery) {
      try {
        await run();
      } catch (err) {
        const error = err instanceof PeerError ? err : new PeerError("INTERNAL", String(err));
        this.peer.emitRecoveryError(what, error);
      }
    }
  }
}

function fromEntry(batch: DeliverBatch, entry: BatchedDelivery): Delivery {
  const delivery: Delivery = { tag: batch.tag, delivery: entry[0], queue: batch.queue, exchange: entry[7] ?? "", key: entry[1], body: entry[2], redelivered: entry[3] === true };
  if (entry[4] != null) delivery.replyTo = entry[4];
  if (entry[5] != null) delivery.correlationId = entry[5];
  if (entry[6] != null) delivery.headers = entry[6];
  return delivery;
}
