// The one TypeScript client of the broker, used by every role, test and benchmark. It wraps a
// PeerClient (reconnect, heartbeats), batches acks per event-loop turn into one frame, and after a
// reconnect re-declares what it declared and re-subscribes its consumers and channels.

import type { ChannelMessage, ConsumeOk, Deliver, ExchangeType, MemberInfo, MessageProps, OverflowPolicy, QueueDeclareOk, StatsOk } from "../../protocols/broker.ts";
import { nanoid } from "nanoid";
import { PeerError } from "../errors.ts";
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
  private ackScheduled = false;
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
      // Unacked deliveries are requeued by the broker; acks for them are meaningless now.
      this.pendingAcks = [];
    });
  }

  /** Connect to a broker at host:port. */
  static async connect(address: string, options: BrokerClientOptions = {}): Promise<BrokerClient> {
    const at = address.lastIndexOf(":");
    const clientOptions: ClientOptions = {
      host: address.slice(0, at).replace(/^\[|\]$/g, ""),
      port: Number(address.slice(at + 1)),
      identity: { node: options.id ?? `client-${process.pid}-${Math.random().toString(36).slice(2, 6)}`, role: options.role ?? "client" },
      token: options.token,
      heartbeatMs: options.heartbeatMs,
      reconnect: options.reconnect,
      log: options.log,
    };
    const client = new BrokerClient(new PeerClient(clientOptions));
    await client.peer.connect();
    return client;
  }

  close(): Promise<void> {
    this.flushAcks();
    return this.peer.close();
  }

  // ---- exchanges and queues ------------------------------------------------------------------

  async declareExchange(exchange: string, type: ExchangeType = "direct"): Promise<void> {
    const run = () => this.peer.request({ op: "exchange.declare", exchange, type });
    await run();
    this.recovery.set(`exchange:${exchange}`, run);
  }

  /** Declare a queue; no name (or "") gets a server-named exclusive queue. Returns the name. */
  async declareQueue(queue = "", options: QueueOptions = {}): Promise<string> {
    const reply = await this.peer.request<QueueDeclareOk>({ op: "queue.declare", queue, ...options });
    if (queue !== "") this.recovery.set(`queue:${queue}`, () => this.peer.request({ op: "queue.declare", queue, ...options }));
    return reply.queue;
  }

  async deleteQueue(queue: string): Promise<number> {
    this.recovery.delete(`queue:${queue}`);
    return (await this.peer.request<{ purged: number }>({ op: "queue.delete", queue })).purged;
  }

  async purgeQueue(queue: string): Promise<number> {
    return (await this.peer.request<{ purged: number }>({ op: "queue.purge", queue })).purged;
  }

  async bindQueue(queue: string, exchange: string, key = ""): Promise<void> {
    const run = () => this.peer.request({ op: "queue.bind", queue, exchange, key });
    await run();
    this.recovery.set(`bind:${queue}:${exchange}:${key}`, run);
  }

  async unbindQueue(queue: string, exchange: string, key = ""): Promise<void> {
    this.recovery.delete(`bind:${queue}:${exchange}:${key}`);
    await this.peer.request({ op: "queue.unbind", queue, exchange, key });
  }

  // ---- publish and consume -------------------------------------------------------------------

  /** Fire-and-forget publish. Returns false if not connected (nothing was sent). */
  publish(exchange: string, key: string, body: unknown, props?: MessageProps): boolean {
    // exchange "" is the default: leave it out of the frame (one field less to encode and decode).
    const message: Record<string, unknown> = exchange === "" ? { op: "publish", key, body } : { op: "publish", exchange, key, body };
    if (props !== undefined) {
      if (props.replyTo !== undefined) message.replyTo = props.replyTo;
      if (props.correlationId !== undefined) message.correlationId = props.correlationId;
      if (props.headers !== undefined) message.headers = props.headers;
    }
    return this.peer.send(message);
  }

  /** Publish to a queue through the default exchange. */
  sendToQueue(queue: string, body: unknown, props?: MessageProps): boolean {
    return this.publish("", queue, body, props);
  }

  /** Publish with a confirm: resolves once the broker has queued it, with the number of queues reached. */
  async publishConfirmed(exchange: string, key: string, body: unknown, props?: MessageProps): Promise<number> {
    return (await this.peer.request<{ routed: number }>({ op: "publish", exchange, key, body, ...props })).routed;
  }

  async consume(queue: string, onMessage: (delivery: Delivery) => void, options: ConsumeOptions = {}): Promise<string> {
    // The tag is chosen here and the handler registered before the request goes out: deliveries
    // can arrive in the same read as the reply, before an awaiting caller would run again.
    const tag = options.tag ?? `ctag-${nanoid(10)}`;
    const subscribe = () => this.peer.request<ConsumeOk>({ op: "consume", queue, ...options, tag });
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
    await this.peer.request({ op: "cancel", tag });
    this.consumers.delete(tag);
  }

  /** Ack a delivery. Acks made in one event-loop turn travel in one frame. */
  ack(delivery: Delivery | number): void {
    this.pendingAcks.push(typeof delivery === "number" ? delivery : delivery.delivery);
    if (!this.ackScheduled) {
      this.ackScheduled = true;
      queueMicrotask(() => this.flushAcks());
    }
  }

  /** Nack a delivery: requeue (default) or drop. Sent at once, after any batched acks. */
  nack(delivery: Delivery | number, requeue = true): void {
    this.flushAcks();
    this.peer.send({ op: "nack", delivery: typeof delivery === "number" ? delivery : delivery.delivery, requeue });
  }

  /** Poll one message (basic.get); null when the queue is empty. */
  async getMessage(queue: string, autoAck = false): Promise<Omit<Delivery, "tag"> | null> {
    const reply = await this.peer.request<{ message: Omit<Delivery, "tag" | "queue"> | null }>({ op: "queue.get", queue, autoAck });
    return reply.message === null ? null : { ...reply.message, queue };
  }

  private flushAcks(): void {
    this.ackScheduled = false;
    if (this.pendingAcks.length === 0) return;
    const deliveries = this.pendingAcks;
    this.pendingAcks = [];
    this.peer.send(deliveries.length === 1 ? { op: "ack", delivery: deliveries[0] } : { op: "ack", deliveries });
  }

  // ---- pub/sub -------------------------------------------------------------------------------

  async subscribe(channel: string, onMessage: (body: unknown, channel: string) => void): Promise<void> {
    const run = () => this.peer.request({ op: "subscribe", channel });
    this.channelHandlers.set(channel, onMessage);
    await run();
    this.recovery.set(`subscribe:${channel}`, run);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.recovery.delete(`subscribe:${channel}`);
    this.channelHandlers.delete(channel);
    await this.peer.request({ op: "unsubscribe", channel });
  }

  /** Publish on a channel; resolves with how many subscribers it reached. */
  async publishChannel(channel: string, body: unknown): Promise<number> {
    return (await this.peer.request<{ receivers: number }>({ op: "channel.publish", channel, body })).receivers;
  }

  // ---- shared state --------------------------------------------------------------------------

  async get(key: string): Promise<unknown> {
    return (await this.peer.request<{ value: unknown }>({ op: "get", key })).value;
  }
  async set(key: string, value: unknown, ttlMs?: number): Promise<void> {
    await this.peer.request({ op: "set", key, value, ttlMs });
  }
  async del(...keys: string[]): Promise<number> {
    return (await this.peer.request<{ count: number }>({ op: "del", keys })).count;
  }
  async incr(key: string, by = 1): Promise<number> {
    return (await this.peer.request<{ value: number }>({ op: "incr", key, by })).value;
  }
  async rpush(key: string, ...values: unknown[]): Promise<number> {
    return (await this.peer.request<{ length: number }>({ op: "rpush", key, values })).length;
  }
  async lpush(key: string, ...values: unknown[]): Promise<number> {
    return (await this.peer.request<{ length: number }>({ op: "lpush", key, values })).length;
  }
  async lpop(key: string): Promise<unknown> {
    return (await this.peer.request<{ value: unknown }>({ op: "lpop", key })).value;
  }
  async lpopCount(key: string, count: number): Promise<unknown[]> {
    return (await this.peer.request<{ values: unknown[] }>({ op: "lpop", key, count })).values;
  }
  async rpop(key: string): Promise<unknown> {
    return (await this.peer.request<{ value: unknown }>({ op: "rpop", key })).value;
  }
  async rpopCount(key: string, count: number): Promise<unknown[]> {
    return (await this.peer.request<{ values: unknown[] }>({ op: "rpop", key, count })).values;
  }
  /** Block up to timeoutMs for an element of any of keys; null on timeout. */
  async blpop(keys: string | string[], timeoutMs: number): Promise<{ key: string; value: unknown } | null> {
    const list = Array.isArray(keys) ? keys : [keys];
    const reply = await this.peer.request<{ key: string | null; value: unknown }>({ op: "blpop", keys: list, timeoutMs }, (timeoutMs || 3_600_000) + 5_000);
    return reply.key === null ? null : { key: reply.key, value: reply.value };
  }
  async lrange(key: string, start: number, stop: number): Promise<unknown[]> {
    return (await this.peer.request<{ values: unknown[] }>({ op: "lrange", key, start, stop })).values;
  }
  async llen(key: string): Promise<number> {
    return (await this.peer.request<{ length: number }>({ op: "llen", key })).length;
  }
  async sadd(key: string, ...members: Array<string | number>): Promise<number> {
    return (await this.peer.request<{ added: number }>({ op: "sadd", key, members })).added;
  }
  async srem(key: string, ...members: Array<string | number>): Promise<number> {
    return (await this.peer.request<{ removed: number }>({ op: "srem", key, members })).removed;
  }
  async smembers(key: string): Promise<Array<string | number>> {
    return (await this.peer.request<{ members: Array<string | number> }>({ op: "smembers", key })).members;
  }
  async srandmember(key: string, count?: number): Promise<Array<string | number>> {
    if (count === undefined) {
      const member = (await this.peer.request<{ member: string | number | null }>({ op: "srandmember", key })).member;
      return member === null ? [] : [member];
    }
    return (await this.peer.request<{ members: Array<string | number> }>({ op: "srandmember", key, count })).members;
  }

  // ---- membership and stats ------------------------------------------------------------------

  async members(role?: string): Promise<MemberInfo[]> {
    return (await this.peer.request<{ members: MemberInfo[] }>({ op: "members", role })).members;
  }

  async stats(queue?: string): Promise<StatsOk> {
    return this.peer.request<StatsOk>({ op: "stats", queue });
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
