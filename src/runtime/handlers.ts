// The ops a node serves, by protocol: `serve(protocol, implementation)` registers a handler for
// every op of the protocol's table (the compiler checks none is missing and every argument and
// result type). A request is checked against its schema once, here, before the handler runs; a
// bad one gets BAD_ARGUMENT naming the field, with `re` set. For a request (a message with `id`)
// whatever the handler returns, or resolves to, goes back as `ok`, and whatever it throws as
// `error`; for a one-way message the result is dropped and an error goes back without `re`.

import type { Envelope } from "../../protocols/core.ts";
import type { OpName, OpSpec, OpsOf, PayloadPlan, Protocol, ReplyOf, RequestOf } from "../../protocols/protocol.ts";
import { asPeerError, PeerError, quote } from "../errors.ts";
import { peekOp } from "../wire/msgpack.ts";
import type { Connection } from "./connection.ts";

/** What a handler knows about the message it serves besides its fields. */
export interface CallInfo {
  connection: Connection;
  /** The request's id; undefined for a one-way message. */
  id: number | undefined;
  /** Size of the message's frame body in bytes. */
  frameBytes: number;
}

type Result<T> = T | Promise<T>;

/** One handler per op of a protocol, typed by its table. */
export type Implementation<P extends Protocol> = {
  [K in OpName<P>]: (args: RequestOf<P, K>, call: CallInfo) => Result<OpsOf<P>[K]["reply"] extends null ? void : ReplyOf<P, K>>;
};

interface Entry {
  spec: OpSpec;
  handler: (args: unknown, call: CallInfo) => unknown;
}

/**
 * A hand-written path for a hot op: parses the raw frame body itself (faster than decoding it into
 * values and checking them) and runs the op. It returns the request's id and its reply, or
 * undefined to leave the frame to the generic path — which it must do for anything unusual, so
 * that every error stays the table's. It must accept exactly what the generic path accepts.
 */
export type FastPath = (body: Uint8Array, call: Omit<CallInfo, "id">) => { id: number | undefined; reply: object | undefined } | undefined;

export class HandlerTable {
  private readonly entries = new Map<string, Entry>();
  private readonly fastPaths = new Map<string, FastPath>();
  private readonly protocols: string[] = [];
  private payloadFields: Record<string, PayloadPlan> = {};

  /** Serve every op of `protocol`. A protocol is served once per table. */
  serve<P extends Protocol>(protocol: P, implementation: Implementation<P>): this {
    if (this.protocols.includes(protocol.name)) throw new Error(`protocol ${protocol.name} is already served by this table`);
    for (const op of Object.keys(protocol.ops)) {
      if (this.entries.has(op)) throw new Error(`op "${op}" of ${protocol.name} is already served by this table`);
    }
    for (const [op, spec] of Object.entries(protocol.ops)) {
      this.entries.set(op, { spec, handler: (implementation as Record<string, Entry["handler"]>)[op]! });
    }
    this.protocols.push(protocol.name);
    const plan = protocol.payloads;
    if (plan !== undefined && plan !== true) this.payloadFields = { ...this.payloadFields, ...plan.fields };
    return this;
  }

  /** What connections served by this table keep undecoded: the served protocols' payload fields. */
  get payloads(): PayloadPlan | undefined {
    return Object.keys(this.payloadFields).length === 0 ? undefined : { fields: this.payloadFields };
  }

  /** A hand-written path for one op already served (see FastPath). */
  fast(op: string, path: FastPath): this {
    if (!this.entries.has(op)) throw new Error(`a fast path for "${op}", which this table does not serve`);
    this.fastPaths.set(op, path);
    return this;
  }

  /** Try the fast path of the frame's op; false: decode it the ordinary way. */
  dispatchFast(body: Uint8Array, connection: Connection, frameBytes: number): boolean {
    if (this.fastPaths.size === 0) return false;
    const op = peekOp(body);
    const path = op === undefined ? undefined : this.fastPaths.get(op);
    if (path === undefined) return false;
    const outcome = path(body, { connection, frameBytes });
    if (outcome === undefined) return false;
    if (outcome.id !== undefined) connection.replyOk(outcome.id, outcome.reply);
    return true;
  }

  /** The protocols this table serves, for the hello reply. */
  get served(): readonly string[] {
    return this.protocols;
  }

  serves(protocol: string): boolean {
    return this.protocols.includes(protocol);
  }

  /** Check and run the handler for `message`; replies go out on `connection`. */
  dispatch(message: Envelope, connection: Connection, frameBytes: number): void {
    const entry = this.entries.get(message.op);
    if (entry === undefined) throw new PeerError("UNKNOWN_OP", `unknown op ${quote(message.op)}`, { re: message.id });
    const id = message.id;
    if (id === undefined && !entry.spec.oneWay) throw new PeerError("BAD_ENVELOPE", `${quote(message.op)} is a request: it needs an "id"`);
    if (id !== undefined && entry.spec.reply === null) throw new PeerError("BAD_ENVELOPE", `${quote(message.op)} is one-way: it takes no "id"`, { re: id });
    let result: unknown;
    try {
      const args = entry.spec.request.check(message);
      result = entry.handler(args, { connection, id, frameBytes });
    } catch (err) {
      throw withRe(err, id);
    }
    if (id === undefined) {
      if (result instanceof Promise) result.catch((err) => connection.failRequest(message, err));
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => connection.isOpen && connection.replyOk(id, (value ?? undefined) as object | undefined),
        (err) => connection.failRequest(message, err),
      );
    } else {
      connection.replyOk(id, (result ?? undefined) as object | undefined);
    }
  }
}

function withRe(err: unknown, id: number | undefined): PeerError {
  const error = asPeerError(err);
  error.re ??= id;
  return error;
}
