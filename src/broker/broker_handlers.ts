// The broker's ops: every op of the `broker` protocol table (protocols/broker.ts), with its
// arguments already checked against the table. Each handler calls the broker and shapes the reply.

import type { BatchedPublish, MessageProps } from "../../protocols/broker.ts";
import { broker as brokerProtocol } from "../../protocols/broker.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Connection } from "../runtime/connection.ts";
import type { CallInfo, HandlerTable } from "../runtime/handlers.ts";
import { encodeBody } from "../wire/codec.ts";
import type { Broker } from "./broker.ts";
import { Message } from "./message.ts";
import { parsePublishBatch } from "./publish_batch.ts";
import type { Waiter } from "./store.ts";

export function registerBrokerHandlers(broker: Broker, handlers: HandlerTable): void {
  const session = (c: Connection) => broker.session(c);
  /**
   * Route every message; a failed one does not stop the others. As a request the reply counts
   * them; one-way, one error (without re) names the first failure.
   */
  const publishAll = (messages: readonly Message[], id: number | undefined): { routed: number; failed: number; firstError?: { name: string; message: string } } => {
    let routed = 0;
    let failed = 0;
    let firstError: PeerError | null = null;
    for (const message of messages) {
      try {
        routed += broker.publish(message);
      } catch (err) {
        failed++;
        firstError ??= err instanceof PeerError ? err : new PeerError("INTERNAL", String(err));
      }
    }
    if (id !== undefined) return firstError ? { routed, failed, firstError: { name: firstError.name, message: firstError.message } } : { routed, failed };
    if (firstError !== null) throw new PeerError(firstError.name === "UNKNOWN" ? "INTERNAL" : firstError.name, `${failed} of ${messages.length} batched publishes failed; first: ${firstError.message}`);
    return { routed, failed };
  };

  handlers.serve(brokerProtocol, {
    "exchange.declare": (a) => {
      broker.declareExchange(a.exchange, a.type ?? "direct");
      return {};
    },
    "exchange.delete": (a) => {
      broker.deleteExchange(a.exchange);
      return {};
    },
    "queue.declare": (a, { connection }) => {
      const queue = broker.declareQueue(session(connection), { queue: a.queue ?? "", exclusive: a.exclusive, maxLength: a.maxLength, overflow: a.overflow });
      return { queue: queue.name, depth: queue.messages.length, consumers: queue.consumers.length };
    },
    "queue.delete": (a, { connection }) => ({ purged: broker.deleteQueue(broker.queueFor(session(connection), a.queue)) }),
    "queue.purge": (a, { connection }) => ({ purged: broker.queueFor(session(connection), a.queue).purge() }),
    "queue.bind": (a, { connection }) => {
      broker.bind(broker.queueFor(session(connection), a.queue), a.exchange, a.key ?? "");
      return {};
    },
    "queue.unbind": (a, { connection }) => {
      broker.unbind(broker.queueFor(session(connection), a.queue), a.exchange, a.key ?? "");
      return {};
    },
    "queue.get": (a, { connection }) => {
      const s = session(connection);
      const queue = broker.queueFor(s, a.queue);
      const head = queue.messages.peekFront();
      if (head === undefined) return { message: null };
      const reply = { message: { delivery: 1, redelivered: head.redelivered, ...head.fields() } };
      checkFits(connection, reply); // before the message leaves the queue
      const got = broker.get(s, queue, a.autoAck ?? false)!;
      reply.message.delivery = got.delivery;
      return reply;
    },
    publish: (a) => ({ routed: broker.publish(Message.of(a.exchange ?? "", a.key, a.body, propsOf(a.replyTo, a.correlationId, a.headers))) }),
    "publish.batch": (a, call) => publishAll(a.messages.map((e) => Message.of(e[0] ?? "", e[1], e[2], propsOf(e[3], e[4], e[5]))), call.id),
    consume: (a, { connection }) => {
      const s = session(connection);
      broker.checkReceiver(connection);
      const autoAck = a.autoAck ?? false;
      const prefetch = a.prefetch ?? (autoAck ? 0 : limits.prefetchDefault);
      const tag = a.tag ?? `ctag-${connection.serial}-${s.consumers.size + 1}-${Date.now() % 100000}`;
      broker.consume(s, broker.queueFor(s, a.queue), tag, prefetch, autoAck);
      return { tag };
    },
    cancel: (a, { connection }) => {
      broker.cancel(session(connection), a.tag);
      return {};
    },
    ack: (a, { connection }) => {
      session(connection).ack(deliveryList(a));
      return {};
    },
    nack: (a, { connection }) => {
      session(connection).nack(deliveryList(a), a.requeue ?? true);
      return {};
    },

    // ---- pub/sub
    subscribe: (a, { connection }) => {
      broker.checkReceiver(connection);
      broker.pubsub.subscribe(session(connection), a.channel);
      return {};
    },
    unsubscribe: (a, { connection }) => {
      broker.pubsub.unsubscribe(session(connection), a.channel);
      return {};
    },
    "channel.publish": (a, call) => {
      if (call.frameBytes > broker.messageBytesMax) throw new PeerError("LIMIT_EXCEEDED", `a channel message must fit in ${broker.messageBytesMax} bytes`);
      return { receivers: broker.pubsub.publish(a.channel, a.body) };
    },

    // ---- shared state
    get: (a) => ({ value: broker.store.get(a.key) }),
    set: (a) => {
      broker.store.set(a.key, a.value, a.ttlMs ?? 0);
      return {};
    },
    del: (a) => ({ count: broker.store.del(a.keys) }),
    incr: (a) => ({ value: broker.store.incr(a.key, a.by ?? 1) }),
    rpush: (a) => ({ length: broker.store.push(a.key, a.values, false) }),
    lpush: (a) => ({ length: broker.store.push(a.key, a.values, true) }),
    lpop: (a, { connection }) => pop(connection, a.key, a.count, true),
    rpop: (a, { connection }) => pop(connection, a.key, a.count, false),
    blpop: (a, { connection }) => blpop(connection, a.keys, a.timeoutMs),
    lrange: (a) => ({ values: broker.store.range(a.key, a.start, a.stop) }),
    llen: (a) => ({ length: broker.store.length(a.key) }),
    sadd: (a) => ({ added: broker.store.sadd(a.key, a.members) }),
    srem: (a) => ({ removed: broker.store.srem(a.key, a.members) }),
    smembers: (a) => ({ members: broker.store.smembers(a.key) }),
    srandmember: (a) => {
      if (a.count === undefined) return { member: broker.store.srandmember(a.key, 1)[0] ?? null };
      return { members: broker.store.srandmember(a.key, a.count) };
    },

    // ---- membership and stats
    members: (a) => ({ members: broker.membership.list(a.role) }),
    stats: (a) => broker.stats(a.queue, a.after, a.limit ?? limits.statsQueuesPerPageMax),
  });

  // The hottest frame, by hand (publish_batch.ts); anything unusual goes the way above.
  handlers.fast("publish.batch", (body) => {
    const parsed = parsePublishBatch(body);
    if (parsed === undefined) return undefined;
    const reply = publishAll(parsed.messages, parsed.id);
    return { id: parsed.id, reply };
  });

  /** lpop/rpop: nothing leaves the list unless the reply fits the requester's frames. */
  function pop(connection: Connection, key: string, count: number | undefined, front: boolean): { value: unknown } | { values: unknown[] } {
    const taken = broker.store.peek(key, count ?? 1, front);
    const reply = count === undefined ? { value: taken[0] ?? null } : { values: taken };
    checkFits(connection, reply);
    broker.store.pop(key, taken.length, front);
    return reply;
  }

  /**
   * Takes from the first non-empty list now, or waits: the promise settles with the element or,
   * at the timeout, with nil. A closed connection's wait is dropped and takes nothing.
   */
  function blpop(connection: Connection, keys: string[], timeoutMs: number): Promise<{ key: string | null; value: unknown }> | { key: string; value: unknown } {
    const s = session(connection);
    const fitsReply = (key: string, value: unknown): boolean => fits(connection, { key, value });
    const now = broker.store.popFirst(keys, fitsReply);
    if (now !== null) return now;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        keys,
        fits: fitsReply,
        deliver: (key, value) => {
          if (!connection.isOpen) return false;
          end();
          resolve({ key, value });
          return true;
        },
        refuse: (err) => {
          end();
          reject(err);
        },
      };
      broker.store.park(waiter);
      const leave = (): void => {
        broker.store.unblock(waiter);
        clearTimeout(timer);
      };
      const end = (): void => {
        clearTimeout(timer);
        const at = s.onClose.indexOf(leave);
        if (at >= 0) s.onClose.splice(at, 1);
      };
      const timer = setTimeout(() => {
        broker.store.unblock(waiter);
        end();
        resolve({ key: null, value: null });
      }, timeoutMs === 0 ? limits.blockTimeoutMsMax : timeoutMs);
      s.onClose.push(leave);
    });
  }
}

/** Would this reply fit the frames the requester accepts? */
function fits(connection: Connection, reply: object): boolean {
  return encodeBody({ ...reply, op: "ok", re: Number.MAX_SAFE_INTEGER }).length <= connection.peerFrameBytesMax;
}

function checkFits(connection: Connection, reply: object): void {
  if (!fits(connection, reply)) {
    throw new PeerError("REPLY_TOO_LARGE", `the reply would exceed the ${connection.peerFrameBytesMax} bytes this connection accepts; nothing was taken: ask for less`);
  }
}

function propsOf(replyTo: string | null | undefined, correlationId: string | null | undefined, headers: MessageProps["headers"] | null): MessageProps | undefined {
  if (replyTo == null && correlationId == null && headers == null) return undefined;
  const props: MessageProps = {};
  if (replyTo != null) props.replyTo = replyTo;
  if (correlationId != null) props.correlationId = correlationId;
  if (headers != null) props.headers = headers;
  return props;
}

function deliveryList(a: { delivery?: number; deliveries?: number[] }): number[] {
  if (a.deliveries !== undefined) return a.deliveries;
  if (a.delivery !== undefined) return [a.delivery];
  throw new PeerError("BAD_ARGUMENT", `"delivery" or "deliveries" must be present`);
}
