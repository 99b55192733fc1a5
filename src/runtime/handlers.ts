// Handlers registered per op. A handler gets the message and its connection; for a request (a
// message with `id`) whatever it returns (or resolves to) is sent back as `ok`, and whatever it
// throws as `error`. For a one-way message the return value is ignored.

import type { Envelope } from "../../protocols/core.ts";
import { PeerError } from "../errors.ts";
import type { Connection } from "./connection.ts";

export type HandlerResult = object | void | undefined;
export type Handler = (message: Envelope, connection: Connection) => HandlerResult | Promise<HandlerResult>;

/** Marker a handler returns when it will reply later by itself (e.g. a blocking pop). */
export const REPLY_LATER: object = Object.freeze({ replyLater: true });

export class HandlerTable {
  private readonly handlers = new Map<string, Handler>();

  on(op: string, handler: Handler): this {
    if (this.handlers.has(op)) throw new Error(`handler for "${op}" registered twice`);
    this.handlers.set(op, handler);
    return this;
  }

  /** Drop a handler (e.g. a backup's placeholder before it takes over). */
  remove(op: string): void {
    this.handlers.delete(op);
  }

  has(op: string): boolean {
    return this.handlers.has(op);
  }

  /** Run the handler for `message`; unknown ops get UNKNOWN_OP. Replies go out on `connection`. */
  dispatch(message: Envelope, connection: Connection): void {
    const handler = this.handlers.get(message.op);
    if (handler === undefined) {
      throw new PeerError("UNKNOWN_OP", `unknown op "${message.op}"`);
    }
    const result = handler(message, connection);
    if (message.id === undefined) {
      if (result instanceof Promise) result.catch((err) => connection.failRequest(message, err));
      return;
    }
    const id = message.id;
    if (result instanceof Promise) {
      result.then(
        (value) => replyWith(connection, id, value),
        (err) => connection.failRequest(message, err),
      );
    } else {
      replyWith(connection, id, result);
    }
  }
}

function replyWith(connection: Connection, id: number, value: HandlerResult): void {
  if (value === REPLY_LATER) return;
  connection.replyOk(id, value ?? undefined);
}
