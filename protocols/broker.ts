// Every message of the broker protocol. Spec: protocols/broker.md. All requests are answered with
// `ok` (fields below) or `error`; "one-way" marks messages the broker sends without being asked.

export type ExchangeType = "direct" | "fanout";
export type OverflowPolicy = "reject" | "drop-oldest";

/** Message properties carried from publish to delivery unchanged. */
export interface MessageProps {
  replyTo?: string;
  correlationId?: string;
  headers?: Record<string, unknown>;
}

// ---- exchanges and queues ------------------------------------------------------------------

export interface ExchangeDeclare { op: "exchange.declare"; id: number; exchange: string; type: ExchangeType }
export interface ExchangeDelete { op: "exchange.delete"; id: number; exchange: string }

export interface QueueDeclare {
  op: "queue.declare";
  id: number;
  /** Omit or "" for a server-named queue (always exclusive). */
  queue?: string;
  /** Deleted when the declaring connection closes; other connections get RESOURCE_LOCKED. */
  exclusive?: boolean;
  maxLength?: number;
  overflow?: OverflowPolicy;
}
export interface QueueDeclareOk { queue: string; depth: number; consumers: number }

export interface QueueDelete { op: "queue.delete"; id: number; queue: string }
export interface QueuePurge { op: "queue.purge"; id: number; queue: string }
export interface QueueBind { op: "queue.bind"; id: number; queue: string; exchange: string; key?: string }
export interface QueueUnbind { op: "queue.unbind"; id: number; queue: string; exchange: string; key?: string }

// ---- publishing and consuming --------------------------------------------------------------

/**
 * One-way (no id): fire and forget; a failure comes back as an error without `re`.
 * Request (with id): a publisher confirm, answered once the message is queued: {routed}.
 */
export interface Publish extends MessageProps {
  op: "publish";
  id?: number;
  /** "" or omitted: the default exchange, where `key` is a queue name. */
  exchange?: string;
  key: string;
  body: unknown;
}
export interface PublishOk { routed: number }

export interface Consume {
  op: "consume";
  id: number;
  queue: string;
  /** Max unacked deliveries to this consumer; 0 = unlimited. Default 0 with autoAck, else 100. */
  prefetch?: number;
  autoAck?: boolean;
  /** Consumer tag; generated if omitted. */
  tag?: string;
}
export interface ConsumeOk { tag: string }

/**
 * Broker → consumer, one-way. `delivery` is unique per connection; ack or nack it.
 * `exchange` is absent for the default exchange (""); `redelivered` is absent when false.
 */
export interface Deliver extends MessageProps {
  op: "deliver";
  tag: string;
  delivery: number;
  queue: string;
  exchange?: string;
  key: string;
  body: unknown;
  redelivered?: boolean;
}

/**
 * Several deliveries to one consumer in one frame (the broker sends these when it has more than one
 * message for a consumer in one turn). Each entry is positional, trailing absent fields left out,
 * absent fields in the middle nil: [delivery, key, body, redelivered, replyTo, correlationId, headers, exchange].
 */
export type BatchedDelivery = [number, string, unknown, (boolean | null)?, (string | null)?, (string | null)?, (Record<string, unknown> | null)?, (string | null)?];
export interface DeliverBatch {
  op: "deliver.batch";
  tag: string;
  queue: string;
  messages: BatchedDelivery[];
}

/**
 * Several publishes in one frame: [exchange, key, body, replyTo, correlationId, headers], trailing
 * absent fields left out. One-way (failures come back as one error without `re`), or a request
 * answered {routed, failed}.
 */
export type BatchedPublish = [string, string, unknown, (string | null)?, (string | null)?, (Record<string, unknown> | null)?];
export interface PublishBatch {
  op: "publish.batch";
  id?: number;
  messages: BatchedPublish[];
}
export interface PublishBatchOk { routed: number; failed: number; firstError?: { name: string; message: string } }

export interface Cancel { op: "cancel"; id: number; tag: string }

/** Ack one delivery or several; one-way or request. Unknown delivery: NOT_FOUND. */
export interface Ack { op: "ack"; id?: number; delivery?: number; deliveries?: number[] }
/** Nack: requeue (default true) puts the message back at the head, marked redelivered; else it is dropped. */
export interface Nack { op: "nack"; id?: number; delivery?: number; deliveries?: number[]; requeue?: boolean }

/** Poll one message (basic.get). Reply: {message: Deliver-like fields | null}. */
export interface QueueGet { op: "queue.get"; id: number; queue: string; autoAck?: boolean }

// ---- pub/sub -------------------------------------------------------------------------------

export interface Subscribe { op: "subscribe"; id: number; channel: string }
export interface Unsubscribe { op: "unsubscribe"; id: number; channel: string }
/** Reaches every current subscriber; nothing is stored. Reply (if a request): {receivers}. */
export interface ChannelPublish { op: "channel.publish"; id?: number; channel: string; body: unknown }
/** Broker → subscriber, one-way. */
export interface ChannelMessage { op: "message"; channel: string; body: unknown }

/** The system channel where the broker announces membership changes. */
export const MEMBERS_CHANNEL = "$sys.members";
export interface MemberEvent { event: "join" | "leave"; node: string; role: string; reason?: "closed" | "dead"; atMs: number }

// ---- shared state (the Redis subset) -------------------------------------------------------

export interface KvGet { op: "get"; id: number; key: string }                          // → {value | null}
export interface KvSet { op: "set"; id: number; key: string; value: unknown; ttlMs?: number } // → {}
export interface KvDel { op: "del"; id: number; keys: string[] }                       // → {count}
export interface KvIncr { op: "incr"; id: number; key: string; by?: number }           // → {value}
export interface ListPush { op: "rpush" | "lpush"; id: number; key: string; values: unknown[] } // → {length}
/** Without count: {value | null}; with count: {values}. */
export interface ListPop { op: "lpop" | "rpop"; id: number; key: string; count?: number }
/** Waits up to timeoutMs (0: the bound) for any of keys: {key, value} or {key: null, value: null}. */
export interface ListBlpop { op: "blpop"; id: number; keys: string[]; timeoutMs: number }
export interface ListRange { op: "lrange"; id: number; key: string; start: number; stop: number } // → {values}
export interface ListLen { op: "llen"; id: number; key: string }                       // → {length}
export interface SetAdd { op: "sadd"; id: number; key: string; members: unknown[] }    // → {added}
export interface SetRem { op: "srem"; id: number; key: string; members: unknown[] }    // → {removed}
export interface SetMembers { op: "smembers"; id: number; key: string }                // → {members}
/** Without count: {member | null}; with count: {members} (distinct, like Redis's positive count). */
export interface SetRandMember { op: "srandmember"; id: number; key: string; count?: number }

// ---- membership and stats ------------------------------------------------------------------

export interface Members { op: "members"; id: number; role?: string }
export interface MemberInfo { node: string; role: string; address: string; connectedAtMs: number; lastSeenMs: number }
export interface MembersOk { members: MemberInfo[] }

export interface Stats { op: "stats"; id: number; queue?: string }
export interface QueueStats {
  queue: string;
  depth: number;
  unacked: number;
  consumers: number;
  exclusive: boolean;
  maxLength: number;
  overflow: OverflowPolicy;
  published: number;
  delivered: number;
  acked: number;
  redelivered: number;
  dropped: number;
  /** Per second, over the last 1 s and the last 10 s. */
  rates: Record<"published" | "delivered" | "acked", { perSec1s: number; perSec10s: number }>;
}
export interface StatsOk {
  queues: QueueStats[];
  connections: number;
  consumers: number;
  channels: number;
  keys: number;
  bytes: number;
  bytesMax: number;
}
