// A consumer: one subscription of one connection to one queue, with its prefetch window.

import type { Queue } from "./queue.ts";
import type { Session } from "./session.ts";

export class Consumer {
  /** Deliveries sent and not yet acked or nacked. */
  unacked = 0;
  constructor(
    readonly tag: string,
    readonly queue: Queue,
    readonly session: Session,
    /** Max unacked; 0 = unlimited. */
    readonly prefetch: number,
    readonly autoAck: boolean,
  ) {}

  /** May this consumer take another message now? Prefetch window open and the socket not congested. */
  get ready(): boolean {
    return (this.prefetch === 0 || this.unacked < this.prefetch) && !this.session.congested;
  }
}
