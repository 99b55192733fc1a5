// The hello handshake, both sides. The connecting side sends hello; the accepting side checks it
// against the core protocol's schema, then the version and the token, agrees the heartbeat
// interval, and answers with its identity, its limits and the protocols it serves.

import { timingSafeEqual } from "node:crypto";
import { hello as helloSchema, PROTOCOL_VERSION, type Envelope, type Hello, type HelloOk } from "../../protocols/core.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Connection } from "./connection.ts";

export interface Identity {
  node: string;
  role: string;
}

export interface HelloTerms {
  identity: Identity;
  token?: string;
  frameBytesMax: number;
  heartbeatMs: number;
  serves: readonly string[];
}

/**
 * Accepting side: check a hello and return the reply's fields. A malformed hello is BAD_ARGUMENT
 * (the connection stays open for a corrected one until the hello timeout); another protocol
 * version is VERSION_MISMATCH and a wrong token AUTH_FAILED, both of which close.
 */
export function acceptHello(message: Envelope, connection: Connection, self: HelloTerms): HelloOk {
  const hello = helloSchema.check(message);
  if (hello.version !== PROTOCOL_VERSION) {
    throw new PeerError("VERSION_MISMATCH", `protocol version ${hello.version} is not supported; this node speaks ${PROTOCOL_VERSION}`);
  }
  if (self.token !== undefined && !tokensEqual(hello.token, self.token)) {
    throw new PeerError("AUTH_FAILED", hello.token === undefined ? "this node requires a token" : "wrong token");
  }
  const heartbeatMs = agreeHeartbeat(hello.heartbeatMs, self.heartbeatMs);
  connection.peer = { node: hello.node, role: hello.role, version: hello.version, serves: [] };
  connection.heartbeatMs = heartbeatMs;
  connection.peerFrameBytesMax = hello.frameBytesMax ?? limits.frameBytesMax;
  return { node: self.identity.node, role: self.identity.role, version: PROTOCOL_VERSION, frameBytesMax: self.frameBytesMax, heartbeatMs, serves: [...self.serves] };
}

/** Connecting side: the hello to send. */
export function makeHello(identity: Identity, heartbeatMs: number, frameBytesMax: number, token?: string): Hello {
  const hello: Hello = { node: identity.node, role: identity.role, version: PROTOCOL_VERSION, heartbeatMs, frameBytesMax };
  if (token !== undefined) hello.token = token;
  return hello;
}

/** Connecting side: record what the (already checked) reply says about the peer. */
export function completeHello(connection: Connection, reply: HelloOk): void {
  connection.peer = { node: reply.node, role: reply.role, version: reply.version, serves: reply.serves };
  connection.heartbeatMs = reply.heartbeatMs;
  connection.peerFrameBytesMax = reply.frameBytesMax;
}

/** 0 turns heartbeats off; absent: the node's own interval; otherwise clamped to the node's bounds. */
function agreeHeartbeat(asked: number | undefined, own: number): number {
  if (asked === undefined) return own;
  if (asked === 0) return 0;
  return Math.min(limits.heartbeatMsMax, Math.max(limits.heartbeatMsMin, asked));
}

function tokensEqual(given: unknown, expected: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
