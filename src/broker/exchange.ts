// An exchange routes a published message to queues: direct by exact routing key, fanout to every
// bound queue. (The default exchange "" is not an object: it routes to the queue named by the key.)

import type { ExchangeType } from "../../protocols/broker.ts";
import type { Queue } from "./queue.ts";

export class Exchange {
  /** direct: key → queues. fanout uses the single key "". */
  private readonly bindings = new Map<string, Set<Queue>>();
  bindingCount = 0;

  constructor(
    readonly name: string,
    readonly type: ExchangeType,
  ) {}

  bind(queue: Queue, key: string): boolean {
    const k = this.type === "fanout" ? "" : key;
    let queues = this.bindings.get(k);
    if (queues === undefined) this.bindings.set(k, (queues = new Set()));
    if (queues.has(queue)) return false;
    queues.add(queue);
    this.bindingCount++;
    return true;
  }

  unbind(queue: Queue, key: string): boolean {
    const k = this.type === "fanout" ? "" : key;
    const queues = this.bindings.get(k);
    if (!queues?.delete(queue)) return false;
    if (queues.size === 0) this.bindings.delete(k);
    this.bindingCount--;
    return true;
  }

  /** Remove every binding of a deleted queue; returns how many. */
  unbindAll(queue: Queue): number {
    let removed = 0;
    for (const [key, queues] of this.bindings) {
      if (queues.delete(queue)) removed++;
      if (queues.size === 0) this.bindings.delete(key);
    }
    this.bindingCount -= removed;
    return removed;
  }

  route(key: string): Iterable<Queue> {
    return this.bindings.get(this.type === "fanout" ? "" : key) ?? [];
  }
}
