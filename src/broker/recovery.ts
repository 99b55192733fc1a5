// What a broker client declared, and how it is restored after a reconnect (a broker keeps nothing
// across a restart, and a cut connection takes its consumers and exclusive queues with it).
// Restored in dependency order — exchanges, queues, bindings, consumers, subscriptions — each
// retried while the error can pass (the queue's owner has not re-declared it yet; the broker has
// not yet noticed our old connection died and still holds its exclusive queue), given up with a
// "recovery-failed" report when it cannot (the queue now exists with other properties).

import type { ExchangeType } from "../../protocols/broker.ts";
import type { ErrorName } from "../../protocols/errors.ts";
import { asPeerError, type PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Logger } from "../runtime/log.ts";
import { backoffMs } from "../runtime/upstream.ts";

export interface QueueProperties {
  exclusive?: boolean;
  maxLength?: number;
  overflow?: "reject" | "drop-oldest";
}

export type Declared =
  | { kind: "exchange"; exchange: string; type: ExchangeType }
  | { kind: "queue"; queue: string; options: QueueProperties }
  | { kind: "bind"; queue: string; exchange: string; key: string }
  | { kind: "consume"; queue: string; tag: string; prefetch?: number; autoAck?: boolean }
  | { kind: "subscribe"; channel: string };

const ORDER: Record<Declared["kind"], number> = { exchange: 0, queue: 1, bind: 2, consume: 3, subscribe: 4 };

/** Errors a later try may not meet: the missing piece may come, the old connection may go. */
const PASSING: ReadonlySet<ErrorName | "UNKNOWN"> = new Set(["NOT_FOUND", "RESOURCE_LOCKED", "LIMIT_EXCEEDED", "TIMEOUT", "QUEUE_FULL"]);

export class Topology {
  private readonly items = new Map<string, Declared>();

  /** Remember a declaration (the same key again replaces it). */
  record(item: Declared): void {
    this.items.set(keyOf(item), item);
  }

  forget(item: Declared): void {
    this.items.delete(keyOf(item));
  }

  forgetConsumer(tag: string): void {
    this.items.delete(`consume:${tag}`);
  }

  /** Everything declared, in the order it must be restored. */
  ordered(): Declared[] {
    return [...this.items.values()].sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
  }
}

function keyOf(item: Declared): string {
  switch (item.kind) {
    case "exchange":
      return `exchange:${item.exchange}`;
    case "queue":
      return `queue:${item.queue}`;
    case "bind":
      return `bind:${item.queue}:${item.exchange}:${item.key}`;
    case "consume":
      return `consume:${item.tag}`;
    case "subscribe":
      return `subscribe:${item.channel}`;
  }
}

export interface RestoreOptions {
  apply(item: Declared): Promise<unknown>;
  /** False once the connection this restore runs on is gone: stop (the next one restarts it). */
  current(): boolean;
  failed(item: Declared, error: PeerError): void;
  log: Logger;
}

/** Restore every item in order; true if all were restored or given up, false if the connection went first. */
export async function restore(items: readonly Declared[], o: RestoreOptions): Promise<boolean> {
  for (const item of items) {
    let lastLogMs = 0;
    for (let attempt = 1; ; attempt++) {
      if (!o.current()) return false;
      try {
        await o.apply(item);
        break;
      } catch (err) {
        if (!o.current()) return false;
        const error = asPeerError(err);
        if (!PASSING.has(error.name)) {
          o.failed(item, error);
          break;
        }
        if (Date.now() - lastLogMs >= limits.upstreamLogEveryMs) {
          lastLogMs = Date.now();
          o.log.info("recovery-waiting", { what: keyOf(item), reason: error.name, attempt });
        }
        await Bun.sleep(backoffMs(attempt));
      }
    }
  }
  return true;
}
