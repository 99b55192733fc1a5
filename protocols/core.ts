// The core protocol every peer-node speaks: envelope, handshake, ping and errors.
// Spec for other languages: protocols/README.md. Role protocols (broker, ...) live beside this file.

/** Protocol version carried in hello. Bumped only on incompatible changes. */
export const PROTOCOL_VERSION = 1;

/** Every frame body is a msgpack map with at least `op`. */
export interface Envelope {
  op: string;
  /** Present on requests: a number the sender chose, unique among its pending requests. */
  id?: number;
  /** Present on replies: the id of the request answered. */
  re?: number;
  [field: string]: unknown;
}

/** First message on every connection, sent by the side that connected. */
export interface Hello {
  op: "hello";
  id: number;
  /** Sender's node id (free text, e.g. "worker-3"). */
  node: string;
  /** Sender's role, e.g. "worker", "client". */
  role: string;
  version: number;
  token?: string;
  /** Heartbeat interval the sender wants on this connection; 0 turns heartbeats off. */
  heartbeatMs?: number;
}

/** Reply to hello. */
export interface HelloOk {
  op: "ok";
  re: number;
  node: string;
  role: string;
  version: number;
  frameBytesMax: number;
  /** Heartbeat interval both sides use on this connection (0: none). */
  heartbeatMs: number;
}

export interface Ping {
  op: "ping";
  id: number;
}

/** A success reply; result fields sit beside op and re. */
export interface OkReply {
  op: "ok";
  re: number;
  [field: string]: unknown;
}

/** A failure reply (with `re`) or a connection-level error (without). */
export interface ErrorReply {
  op: "error";
  re?: number;
  code: number;
  name: string;
  message: string;
  definite: boolean;
}
