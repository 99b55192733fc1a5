// Every message of the broker protocol, as two tables: `broker` (the ops a broker serves) and
// `brokerClient` (the one-way messages a broker sends to its clients). Prose: protocols/broker.md,
// whose op tables are generated from these.

import { limits } from "../src/limits.ts";
import { message, protocol, request, type ReplyOf } from "./protocol.ts";
import { t, type Infer, type Opaque } from "./schema.ts";

export type ExchangeType = "direct" | "fanout";
export type OverflowPolicy = "reject" | "drop-oldest";

/** The system channel where the broker announces membership changes. */
export const MEMBERS_CHANNEL = "$sys.members";

const name = t.string(limits.nameCharsMax, 1);
/** An exchange name: "" is the default exchange. */
const exchangeName = t.string(limits.nameCharsMax);
const routingKey = t.string(limits.nameCharsMax);
/** A msgpack map starts with fixmap (0x80..0x8f), map16 (0xde) or map32 (0xdf). */
function isMapFirstByte(b: number): boolean {
  return (b & 0xf0) === 0x80 || b === 0xde || b === 0xdf;
}

/** Message headers: a map the broker keeps as bytes (a payload), so it never looks inside. */
const headers = t.opaque(t.record(t.any, limits.headerKeysMax), isMapFirstByte);
const correlationId = t.string(limits.correlationIdCharsMax);
const deliveryNumber = t.int(1, Number.MAX_SAFE_INTEGER);
const count = t.int(0, Number.MAX_SAFE_INTEGER);
const member = t.custom<string | number>("string | number", (v): v is string | number => typeof v === "string" || (typeof v === "number" && Number.isFinite(v)));
const timestampMs = t.int(0, Number.MAX_SAFE_INTEGER);

/** Message properties carried from publish to delivery unchanged. */
const props = {
  replyTo: t.optional(routingKey),
  correlationId: t.optional(correlationId),
  headers: t.optional(headers),
};
export interface MessageProps {
  replyTo?: string;
  correlationId?: string;
  /** A map; Opaque where a broker kept it as bytes. */
  headers?: Record<string, unknown> | Opaque;
}

/**
 * One publish of a publish.batch: [exchange, key, body, replyTo, correlationId, headers]; trailing
 * absent fields left out, absent ones in the middle nil; a nil exchange is the default exchange.
 */
export const batchedPublish = t.tuple([t.nullable(exchangeName), routingKey, t.value, routingKey, correlationId, headers], 3);
export type BatchedPublish = Infer<typeof batchedPublish>;

/**
 * One delivery of a deliver.batch: [delivery, redelivered, exchange, key, body, replyTo,
 * correlationId, headers]: the delivery number and flag, then the elements of the publish entry
 * exactly as published (a single publish is stored as such an entry): a nil exchange is the
 * default exchange, trailing absent fields are left out, absent ones in the middle nil.
 */
export const batchedDelivery = t.tuple([deliveryNumber, t.bool, t.nullable(exchangeName), routingKey, t.value, routingKey, correlationId, headers], 5);
export type BatchedDelivery = Infer<typeof batchedDelivery>;

const deliveries = {
  delivery: t.optional(deliveryNumber),
  deliveries: t.optional(t.array(deliveryNumber, limits.acksPerFrameMax, 1)),
};

const rate = t.object({ perSec1s: t.number, perSec10s: t.number });
const queueStats = t.object({
  queue: name,
  depth: count,
  unacked: count,
  consumers: count,
  exclusive: t.bool,
  maxLength: count,
  overflow: t.oneOf(["reject", "drop-oldest"]),
  published: count,
  delivered: count,
  acked: count,
  redelivered: count,
  dropped: count,
  /** Per second, over the last full second and the last 10 full seconds. */
  rates: t.object({ published: rate, delivered: rate, acked: rate }),
});
export type QueueStats = Infer<typeof queueStats>;

const memberInfo = t.object({ node: name, role: name, address: t.string(limits.nameCharsMax), connectedAtMs: timestampMs, lastSeenMs: timestampMs });
export type MemberInfo = Infer<typeof memberInfo>;

export const memberEvent = t.union("event", {
  join: t.object({ node: name, role: name, atMs: timestampMs }),
  leave: t.object({ node: name, role: name, reason: t.oneOf(["closed", "dead"]), atMs: timestampMs }),
});
export type MemberEvent = Infer<typeof memberEvent>;

const gotMessage = t.object({
  delivery: deliveryNumber,
  exchange: exchangeName,
  key: routingKey,
  body: t.value,
  redelivered: t.bool,
  ...props,
});

/**
 * What a broker keeps as bytes: message bodies and headers, stored values. It checks they are
 * well-formed msgpack (and not nil), then stores and forwards them without decoding, walking or
 * re-encoding them, and counts their exact size against its memory bound.
 */
const brokerPayloads = {
  fields: {
    body: true,
    headers: true,
    value: true,
    values: { each: true },
    messages: { each: { items: { 2: true, 5: true } } },
  },
} as const;

/** The ops a broker serves (`--role broker`, or any role started with --embed-broker). */
export const broker = protocol("broker", "served by a broker; sent by its clients", {
  // ---- exchanges and queues
  "exchange.declare": request(t.object({ exchange: name, type: t.optional(t.oneOf(["direct", "fanout"])) }), t.object({}), {
    summary: "declare an exchange (type direct by default); the same again is a no-op",
    errors: ["PRECONDITION_FAILED", "LIMIT_EXCEEDED"],
  }),
  "exchange.delete": request(t.object({ exchange: name }), t.object({}), { summary: "delete an exchange and its bindings", errors: ["NOT_FOUND"] }),
  "queue.declare": request(
    t.object({
      queue: t.optional(t.string(limits.nameCharsMax)),
      exclusive: t.optional(t.bool),
      maxLength: t.optional(t.int(1, limits.queueLengthMax)),
      overflow: t.optional(t.oneOf(["reject", "drop-oldest"])),
    }),
    t.object({ queue: name, depth: count, consumers: count }),
    { summary: "declare a queue; no name (or \"\") gets a server-named exclusive queue", errors: ["RESOURCE_LOCKED", "PRECONDITION_FAILED", "LIMIT_EXCEEDED"] },
  ),
  "queue.delete": request(t.object({ queue: name }), t.object({ purged: count }), { summary: "delete a queue; its consumers get `cancelled`", errors: ["NOT_FOUND", "RESOURCE_LOCKED"] }),
  "queue.purge": request(t.object({ queue: name }), t.object({ purged: count }), { summary: "drop every ready message of a queue", errors: ["NOT_FOUND", "RESOURCE_LOCKED"] }),
  "queue.bind": request(t.object({ queue: name, exchange: name, key: t.optional(routingKey) }), t.object({}), {
    summary: "route an exchange's messages (with this key, for direct) to a queue",
    errors: ["NOT_FOUND", "RESOURCE_LOCKED", "LIMIT_EXCEEDED"],
  }),
  "queue.unbind": request(t.object({ queue: name, exchange: name, key: t.optional(routingKey) }), t.object({}), { summary: "remove a binding (absent: no-op)", errors: ["NOT_FOUND", "RESOURCE_LOCKED"] }),
  "queue.get": request(t.object({ queue: name, autoAck: t.optional(t.bool) }), t.object({ message: t.nullable(gotMessage) }), {
    summary: "take one message now (basic.get), or nil; ack it unless autoAck",
    errors: ["NOT_FOUND", "RESOURCE_LOCKED", "REPLY_TOO_LARGE"],
  }),

  // ---- publishing and consuming
  publish: request(t.object({ exchange: t.optional(exchangeName), key: routingKey, body: t.value, ...props }), t.object({ routed: count }), {
    oneWay: true,
    summary: "route a message; with an id the reply is the publisher confirm, sent once it is queued",
    errors: ["NOT_FOUND", "QUEUE_FULL", "LIMIT_EXCEEDED"],
  }),
  "publish.batch": request(
    t.object({ messages: t.array(batchedPublish, limits.batchMessagesMax, 1) }),
    t.object({ routed: count, failed: count, firstError: t.optional(t.object({ name: t.string(limits.nameCharsMax), message: t.string(limits.errorMessageCharsMax) })) }),
    { oneWay: true, summary: "several publishes in one frame; every valid entry is routed even when others fail", errors: ["NOT_FOUND", "QUEUE_FULL", "LIMIT_EXCEEDED"] },
  ),
  consume: request(
    t.object({ queue: name, prefetch: t.optional(t.int(0, limits.prefetchMax)), autoAck: t.optional(t.bool), tag: t.optional(name) }),
    t.object({ tag: name }),
    { summary: "start deliveries from a queue to this connection (prefetch 100 by default, 0 = unlimited)", errors: ["NOT_FOUND", "RESOURCE_LOCKED", "PRECONDITION_FAILED", "LIMIT_EXCEEDED"] },
  ),
  cancel: request(t.object({ tag: name }), t.object({}), { summary: "stop a consumer; its unacked messages stay unacked until acked or the connection closes", errors: ["NOT_FOUND"] }),
  ack: request(t.object(deliveries), t.object({}), { oneWay: true, summary: "acknowledge deliveries of this connection (`delivery` or `deliveries`)", errors: ["NOT_FOUND"] }),
  nack: request(t.object({ ...deliveries, requeue: t.optional(t.bool) }), t.object({}), {
    oneWay: true,
    summary: "reject deliveries: back to the head of their queue, marked redelivered (requeue, the default), or dropped",
    errors: ["NOT_FOUND"],
  }),

  // ---- pub/sub
  subscribe: request(t.object({ channel: name }), t.object({}), { summary: "receive `message` for every publish on a channel", errors: ["LIMIT_EXCEEDED", "PRECONDITION_FAILED"] }),
  unsubscribe: request(t.object({ channel: name }), t.object({}), { summary: "stop receiving a channel (not subscribed: no-op)" }),
  "channel.publish": request(t.object({ channel: name, body: t.value }), t.object({ receivers: count }), { oneWay: true, summary: "send to every current subscriber; nothing is stored", errors: ["LIMIT_EXCEEDED"] }),

  // ---- shared state (the Redis subset)
  get: request(t.object({ key: name }), t.object({ value: t.nullable(t.any) }), { summary: "a value, or nil (GET)", errors: ["WRONG_TYPE", "REPLY_TOO_LARGE"] }),
  set: request(t.object({ key: name, value: t.value, ttlMs: t.optional(t.int(1, Number.MAX_SAFE_INTEGER)) }), t.object({}), { summary: "store a value, optionally expiring (SET PX)", errors: ["LIMIT_EXCEEDED"] }),
  del: request(t.object({ keys: t.array(name, limits.keysPerRequestMax, 1) }), t.object({ count }), { summary: "delete keys of any type (DEL)" }),
  incr: request(t.object({ key: name, by: t.optional(t.int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) }), t.object({ value: t.int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) }), {
    summary: "add to an integer (INCRBY); a missing key counts as 0",
    errors: ["WRONG_TYPE", "LIMIT_EXCEEDED"],
  }),
  rpush: request(t.object({ key: name, values: t.array(t.value, limits.elementsPerRequestMax, 1) }), t.object({ length: count }), { summary: "append to a list (RPUSH)", errors: ["WRONG_TYPE", "LIMIT_EXCEEDED"] }),
  lpush: request(t.object({ key: name, values: t.array(t.value, limits.elementsPerRequestMax, 1) }), t.object({ length: count }), { summary: "prepend to a list, each value in turn (LPUSH)", errors: ["WRONG_TYPE", "LIMIT_EXCEEDED"] }),
  lpop: request(t.object({ key: name, count: t.optional(t.int(1, limits.replyElementsMax)) }), t.object({ value: t.optional(t.nullable(t.any)), values: t.optional(t.array(t.any, limits.replyElementsMax)) }), {
    summary: "take from the head (LPOP): `value` (nil if empty), or with count `values`",
    errors: ["WRONG_TYPE", "REPLY_TOO_LARGE"],
  }),
  rpop: request(t.object({ key: name, count: t.optional(t.int(1, limits.replyElementsMax)) }), t.object({ value: t.optional(t.nullable(t.any)), values: t.optional(t.array(t.any, limits.replyElementsMax)) }), {
    summary: "take from the tail (RPOP): `value` (nil if empty), or with count `values`",
    errors: ["WRONG_TYPE", "REPLY_TOO_LARGE"],
  }),
  blpop: request(t.object({ keys: t.array(name, limits.blpopKeysMax, 1), timeoutMs: t.int(0, limits.blockTimeoutMsMax) }), t.object({ key: t.nullable(name), value: t.nullable(t.any) }), {
    summary: "take from the first non-empty list, waiting up to timeoutMs (0: the bound) (BLPOP); nil key on timeout",
    errors: ["WRONG_TYPE", "LIMIT_EXCEEDED", "REPLY_TOO_LARGE"],
  }),
  lrange: request(
    t.object({ key: name, start: t.int(-limits.collectionLengthMax, limits.collectionLengthMax), stop: t.int(-limits.collectionLengthMax, limits.collectionLengthMax) }),
    t.object({ values: t.array(t.any, limits.replyElementsMax) }),
    { summary: "elements start..stop, inclusive, negatives from the end (LRANGE)", errors: ["WRONG_TYPE", "REPLY_TOO_LARGE"] },
  ),
  llen: request(t.object({ key: name }), t.object({ length: count }), { summary: "a list's length (LLEN)", errors: ["WRONG_TYPE"] }),
  sadd: request(t.object({ key: name, members: t.array(member, limits.elementsPerRequestMax, 1) }), t.object({ added: count }), { summary: "add members to a set (SADD)", errors: ["WRONG_TYPE", "LIMIT_EXCEEDED"] }),
  srem: request(t.object({ key: name, members: t.array(member, limits.elementsPerRequestMax, 1) }), t.object({ removed: count }), { summary: "remove members (SREM)", errors: ["WRONG_TYPE"] }),
  smembers: request(t.object({ key: name }), t.object({ members: t.array(member, limits.replyElementsMax) }), { summary: "every member (SMEMBERS)", errors: ["WRONG_TYPE", "REPLY_TOO_LARGE"] }),
  srandmember: request(
    t.object({ key: name, count: t.optional(t.int(0, limits.replyElementsMax)) }),
    t.object({ member: t.optional(t.nullable(member)), members: t.optional(t.array(member, limits.replyElementsMax)) }),
    { summary: "a random `member` (nil if empty), or with count up to count distinct `members` (SRANDMEMBER)", errors: ["WRONG_TYPE", "REPLY_TOO_LARGE"] },
  ),

  // ---- membership and stats
  members: request(t.object({ role: t.optional(name) }), t.object({ members: t.array(memberInfo, limits.connectionsMax) }), { summary: "the connected nodes, optionally of one role", errors: ["REPLY_TOO_LARGE"] }),
  stats: request(
    t.object({ queue: t.optional(name), after: t.optional(name), limit: t.optional(t.int(1, limits.statsQueuesPerPageMax)) }),
    t.object({
      queues: t.array(queueStats, limits.statsQueuesPerPageMax),
      /** Present when more queues follow: pass it as `after` for the next page. */
      next: t.optional(name),
      connections: count,
      consumers: count,
      channels: count,
      keys: count,
      bytes: count,
      bytesMax: count,
    }),
    { summary: "queue stats in name order, a page at a time (`after`, `limit`), and broker totals", errors: ["NOT_FOUND", "REPLY_TOO_LARGE"] },
  ),
}, brokerPayloads);

/** The one-way messages a broker sends to its clients. */
export const brokerClient = protocol("broker.client", "sent by a broker; served by its clients", {
  "deliver.batch": message(t.object({ tag: name, queue: name, messages: t.array(batchedDelivery, limits.batchMessagesMax, 1) }), {
    summary: "deliveries to one consumer, up to 256 per frame; each entry is one message",
  }),
  message: message(t.object({ channel: name, body: t.value }), { summary: "a channel publish, to a subscriber" }),
  cancelled: message(t.object({ tag: name, queue: name }), { summary: "the consumer's queue was deleted: no more deliveries for this tag" }),
});

export type StatsOk = ReplyOf<typeof broker, "stats">;
