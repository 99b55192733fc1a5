// A queued message. Fanout gives each queue its own Message (sharing the body) because the
// redelivered flag belongs to one queue's copy.

import type { MessageProps } from "../../protocols/broker.ts";

export class Message {
  redelivered = false;
  constructor(
    readonly body: unknown,
    readonly exchange: string,
    readonly key: string,
    readonly props: MessageProps | undefined,
    /** Approximate memory cost, counted against the broker's byte bound. */
    readonly bytes: number,
  ) {}

  copy(): Message {
    return new Message(this.body, this.exchange, this.key, this.props, this.bytes);
  }
}
