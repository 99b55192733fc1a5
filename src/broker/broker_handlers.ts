// The broker's ops: validate each request's fields, call the broker, shape the reply.
// Message layouts: protocols/broker.ts; prose: protocols/broker.md.

import type { Envelope } from "../../protocols/core.ts";
import type { MessageProps } from "../../protocols/broker.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Connection } from "../runtime/connection.ts";
import { REPLY_LATER, type HandlerTable } from "../runtime/handlers.ts";
import { array, bool, int, name, nameArray, oneOf, optStr, sizeOf, str, value } from "../wire/fields.ts";
import type { Broker } from "./broker.ts";
import type { Waiter } from "./store.ts";

const MESSAGE_OVERHEAD_BYTES = 96;
const DELIVERIES_PER_ACK_MAX = 65_536;

export function registerBrokerHandlers(broker: Broker, handlers: HandlerTable): void {
  const session = (c: Connection) => broker.session(c);
  const publishEntry = (entry: unknown): number => {
    const { exchange, key, body, props } = batchedEntry(entry);
    return broker.publish(exchange, key, body, props, sizeOf(body) + MESSAGE_OVERHEAD_BYTES);
  };

  handlers
    .on("exchange.declare", (m) => {
      broker.declareExchange(name(m, "exchange"), oneOf(m, "type", ["direct", "fanout"] as const, "direct"));
    })
    .on("exchange.delete", (m) => {
      broker.deleteExchange(name(m, "exchange"));
    })
    .on("queue.declare", (m, c) => {
      const queue = broker.declareQueue(session(c), {
        queue: optStr(m, "queue", "")!,
        exclusive: m.exclusive === undefined ? undefined : bool(m, "exclusive", false),
        maxLength: m.maxLength === undefined ? undefined : int(m, "maxLength", 1, limits.queueLengthMax),
        overflow: m.overflow === undefined ? undefined : oneOf(m, "overflow", ["reject", "drop-oldest"] as const, "reject"),
      });
      return { queue: queue.name, depth: queue.messages.length, consumers: queue.consumers.length };
    })
    .on("queue.delete", (m, c) => ({ purged: broker.deleteQueue(broker.queueFor(session(c), name(m, "queue"))) }))
    .on("queue.purge", (m, c) => ({ purged: broker.queueFor(session(c), name(m, "queue")).purge() }))
    .on("queue.bind", (m, c) => {
      broker.bind(broker.queueFor(session(c), name(m, "queue")), name(m, "exchange"), optStr(m, "key", "")!);
    })
    .on("queue.unbind", (m, c) => {
      broker.unbind(broker.queueFor(session(c), name(m, "queue")), name(m, "exchange"), optStr(m, "key", "")!);
    })
    .on("publish", (m) => {
      const body = value(m, "body");
      const routed = broker.publish(optStr(m, "exchange", "")!, str(m, "key"), body, messageProps(m), sizeOf(body) + MESSAGE_OVERHEAD_BYTES);
      return m.id === undefined ? undefined : { routed };
    })
    .on("publish.batch", (m, c) => {
      const entries = array(m, "messages", limits.batchMessagesMax);
      let routed = 0;
      let failed = 0;
      let firstError: PeerError | null = null;
      for (const entry of entries) {
        try {
          routed += publishEntry(entry);
        } catch (err) {
          failed++;
          firstError ??= err instanceof PeerError ? err : new PeerError("INTERNAL", String(err));
        }
      }
      if (m.id !== undefined) return firstError ? { routed, failed, firstError: { name: firstError.name, message: firstError.message } } : { routed, failed };
      if (firstError !== null) c.send(new PeerError(firstError.name === "UNKNOWN" ? "INTERNAL" : firstError.name, `${failed} of ${entries.length} batched publishes failed; first: ${firstError.message}`).toWire());
      return undefined;
    })
    .on("consume", (m, c) => {
      const s = session(c);
      const autoAck = bool(m, "autoAck", false);
      const prefetch = int(m, "prefetch", 0, limits.prefetchMax, autoAck ? 0 : 100);
      const tag = optStr(m, "tag") ?? `ctag-${c.serial}-${s.consumers.size + 1}-${Date.now() % 100000}`;
      broker.consume(s, broker.queueFor(s, name(m, "queue")), tag, prefetch, autoAck);
      return { tag };
    })
    .on("cancel", (m, c) => {
      broker.cancel(session(c), name(m, "tag"));
    })
    .on("ack", (m, c) => {
      session(c).ack(deliveryList(m));
    })
    .on("nack", (m, c) => {
      session(c).nack(deliveryList(m), bool(m, "requeue", true));
    })
    .on("queue.get", (m, c) => {
      const s = session(c);
      const got = broker.get(s, broker.queueFor(s, name(m, "queue")), bool(m, "autoAck", false));
      if (got === null) return { message: null };
      const { message, delivery } = got;
      return { message: { delivery, exchange: message.exchange, key: message.key, body: message.body, redelivered: message.redelivered, ...message.props } };
    })
    // ---- pub/sub
    .on("subscribe", (m, c) => {
      broker.pubsub.subscribe(session(c), name(m, "channel"));
    })
    .on("unsubscribe", (m, c) => {
      broker.pubsub.unsubscribe(session(c), name(m, "channel"));
    })
    .on("channel.publish", (m) => {
      const receivers = broker.pubsub.publish(name(m, "channel"), value(m, "body"));
      return m.id === undefined ? undefined : { receivers };
    })
    // ---- shared state
    .on("get", (m) => ({ value: broker.store.get(name(m, "key")) }))
    .on("set", (m) => {
      broker.store.set(name(m, "key"), value(m, "value"), int(m, "ttlMs", 0, Number.MAX_SAFE_INTEGER, 0));
    })
    .on("del", (m) => ({ count: broker.store.del(nameArray(m, "keys", limits.replyElementsMax)) }))
    .on("incr", (m) => ({ value: broker.store.incr(name(m, "key"), int(m, "by", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 1)) }))
    .on("rpush", (m) => ({ length: broker.store.push(name(m, "key"), values(m, "values"), false) }))
    .on("lpush", (m) => ({ length: broker.store.push(name(m, "key"), values(m, "values"), true) }))
    .on("lpop", (m) => popReply(m, true))
    .on("rpop", (m) => popReply(m, false))
    .on("lrange", (m) => ({ values: broker.store.range(name(m, "key"), int(m, "start", -limits.collectionLengthMax, limits.collectionLengthMax), int(m, "stop", -limits.collectionLengthMax, limits.collectionLengthMax)) }))
    .on("llen", (m) => ({ length: broker.store.length(name(m, "key")) }))
    .on("blpop", (m, c) => blpop(m, c))
    .on("sadd", (m) => ({ added: broker.store.sadd(name(m, "key"), members(m)) }))
    .on("srem", (m) => ({ removed: broker.store.srem(name(m, "key"), members(m)) }))
    .on("smembers", (m) => ({ members: broker.store.smembers(name(m, "key")) }))
    .on("srandmember", (m) => {
      if (m.count === undefined) return { member: broker.store.srandmember(name(m, "key"), 1)[0] ?? null };
      return { members: broker.store.srandmember(name(m, "key"), int(m, "count", 0, limits.replyElementsMax)) };
    })
    // ---- membership and stats
    .on("members", (m) => ({ members: broker.membership.list(optStr(m, "role")) }))
    .on("stats", (m) => broker.stats(optStr(m, "queue")));

  function popReply(m: Envelope, front: boolean): object {
    if (m.count === undefined) return { value: broker.store.pop(name(m, "key"), 1, front)[0] ?? null };
    return { values: broker.store.pop(name(m, "key"), int(m, "count", 0, limits.replyElementsMax), front) };
  }

  function blpop(m: Envelope, c: Connection): object {
    if (m.id === undefined) throw new PeerError("BAD_ARGUMENT", "blpop must be a request (with id)");
    const id = m.id;
    const keys = nameArray(m, "keys", 64);
    const asked = int(m, "timeoutMs", 0, limits.blockTimeoutMsMax);
    const timeoutMs = asked === 0 ? limits.blockTimeoutMsMax : asked;
    const s = session(c);
    let done = false;
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      const at = s.onClose.indexOf(cleanup);
      if (at >= 0) s.onClose.splice(at, 1);
    };
    const waiter: Waiter = {
      keys,
      deliver: (key, v) => {
        if (done || !c.isOpen) return false;
        finish();
        c.replyOk(id, { key, value: v });
        return true;
      },
    };
    const cleanup = (): void => {
      if (!done) broker.store.unblock(waiter);
      done = true;
      clearTimeout(timer);
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const now = broker.store.popOrWait(waiter);
    if (now !== null) return now;
    timer = setTimeout(() => {
      if (done) return;
      finish();
      broker.store.unblock(waiter);
      c.replyOk(id, { key: null, value: null });
    }, timeoutMs);
    s.onClose.push(cleanup);
    return REPLY_LATER;
  }
}

function values(m: Envelope, field: string): unknown[] {
  const list = array(m, field, limits.replyElementsMax);
  if (list.some((v) => v === null || v === undefined)) throw new PeerError("BAD_ARGUMENT", `"${field}" must not hold nil`);
  return list;
}

function members(m: Envelope): Array<string | number> {
  const list = array(m, "members", limits.replyElementsMax);
  if (list.some((v) => typeof v !== "string" && typeof v !== "number")) throw new PeerError("BAD_ARGUMENT", `set members must be strings or numbers`);
  return list as Array<string | number>;
}

/** One [exchange, key, body, replyTo?, correlationId?, headers?] of a publish.batch. */
function batchedEntry(entry: unknown): { exchange: string; key: string; body: unknown; props: MessageProps | undefined } {
  if (!Array.isArray(entry) || entry.length < 3 || entry.length > 6) throw new PeerError("BAD_ARGUMENT", "a publish.batch entry must be [exchange, key, body, replyTo?, correlationId?, headers?]");
  const [exchange, key, body, replyTo, correlationId, headers] = entry as unknown[];
  if (typeof exchange !== "string" || typeof key !== "string" || key.length > limits.nameCharsMax) throw new PeerError("BAD_ARGUMENT", "a publish.batch entry needs string exchange and key");
  if (body === null || body === undefined) throw new PeerError("BAD_ARGUMENT", "a publish.batch entry needs a body");
  let props: MessageProps | undefined;
  if (replyTo != null || correlationId != null || headers != null) {
    props = messageProps({ op: "publish", replyTo: replyTo ?? undefined, correlationId: correlationId ?? undefined, headers: headers ?? undefined });
  }
  return { exchange, key, body, props };
}

/** Props that travel with a message: only the documented ones, validated. */
function messageProps(m: Envelope): MessageProps | undefined {
  if (m.replyTo === undefined && m.correlationId === undefined && m.headers === undefined) return undefined;
  const props: MessageProps = {};
  if (m.replyTo !== undefined) props.replyTo = str(m, "replyTo");
  if (m.correlationId !== undefined) props.correlationId = str(m, "correlationId", 1024);
  if (m.headers !== undefined) {
    if (m.headers === null || typeof m.headers !== "object" || Array.isArray(m.headers)) throw new PeerError("BAD_ARGUMENT", `"headers" must be a map`);
    props.headers = m.headers as Record<string, unknown>;
  }
  return props;
}

function deliveryList(m: Envelope): number[] {
  if (m.deliveries !== undefined) {
    const list = array(m, "deliveries", DELIVERIES_PER_ACK_MAX);
    for (const d of list) if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 1) throw new PeerError("BAD_ARGUMENT", `"deliveries" must hold positive integers`);
    return list as number[];
  }
  return [int(m, "delivery", 1, Number.MAX_SAFE_INTEGER)];
}
