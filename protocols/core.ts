// The core protocol every peer-node speaks: envelope, handshake, ping and errors.
// Spec for other languages: protocols/README.md. Role protocols (broker, ...) live beside this file.

import { limits } from "../src/limits.ts";
import { message, protocol, request } from "./protocol.ts";
import { t, type Infer } from "./schema.ts";

/**
 * Protocol version carried in hello. Bumped only on incompatible changes: 2 made a deliver.batch
 * entry the publish entry's own elements behind the delivery number (so a broker forwards the bytes
 * it received) and retired the single `deliver` frame.
 */
export const PROTOCOL_VERSION = 2;

/** Every frame body is a msgpack map with at least `op`. */
export interface Envelope {
  op: string;
  /** Present on requests: a number the sender chose, unique among its pending requests. */
  id?: number;
  /** Present on replies: the id of the request answered. */
  re?: number;
  [field: string]: unknown;
}

const name = t.string(limits.nameCharsMax, 1);

/** First message on every connection, sent by the side that connected (with an id). */
export const hello = t.object({
  node: name,
  role: name,
  version: t.int(0, Number.MAX_SAFE_INTEGER),
  token: t.optional(t.string(limits.tokenCharsMax)),
  /** Heartbeat interval the sender wants on this connection; 0 turns heartbeats off. */
  heartbeatMs: t.optional(t.int(0, Number.MAX_SAFE_INTEGER)),
  /** The largest frame body the sender accepts; the node never sends it a larger one. */
  frameBytesMax: t.optional(t.int(limits.frameBytesFloor, limits.frameBytesCeiling)),
});
export type Hello = Infer<typeof hello>;

/** The reply to hello: who answered, and the terms of this connection. */
export const helloOk = t.object({
  node: name,
  role: name,
  version: t.int(0, Number.MAX_SAFE_INTEGER),
  /** The largest frame body this node accepts. */
  frameBytesMax: t.int(limits.frameBytesFloor, limits.frameBytesCeiling),
  /** Heartbeat interval both sides use on this connection (0: none). */
  heartbeatMs: t.int(0, limits.heartbeatMsMax),
  /** The protocols whose ops this node serves (e.g. ["broker"]); core is implied. */
  serves: t.array(name, 64),
});
export type HelloOk = Infer<typeof helloOk>;

/** The fields of an error reply (op "error"); `re` is absent for connection-level errors. */
export const errorReply = t.object({
  code: t.int(0, 65_535),
  name: t.string(limits.nameCharsMax),
  message: t.string(limits.errorMessageCharsMax),
  definite: t.bool,
  /** Where to go instead (NOT_LEADER: the leader's address), when the node knows. */
  hint: t.optional(t.string(limits.nameCharsMax)),
});
export interface ErrorReply extends Infer<typeof errorReply> {
  op: "error";
  re?: number;
}

/** Served by every node, on either side of every connection. */
export const core = protocol("core", "every node, both sides of every connection", {
  hello: request(hello, helloOk, {
    summary: "the first message on a connection, from the side that connected",
    errors: ["VERSION_MISMATCH", "AUTH_FAILED", "ALREADY_HELLO", "TOO_MANY_CONNECTIONS", "NODE_ID_IN_USE"],
  }),
  ping: request(t.object({}), t.object({}), { summary: "liveness; answered by every node at any time after hello" }),
  error: message(errorReply, { summary: "an error about the connection, or about a one-way message (no `re`)" }),
});
