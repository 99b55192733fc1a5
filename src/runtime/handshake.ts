// The hello handshake, both sides. The connecting side sends hello; the accepting side checks
// version and token, agrees the heartbeat interval, and answers with its identity and limits.

import { timingSafeEqual } from "node:crypto";
import { PROTOCOL_VERSION, type Envelope, type Hello, type HelloOk } from "../../protocols/core.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Connection } from "./connection.ts";

export interface Identity {
  node: string;
  role: string;
}

const NAME_CHARS_MAX = 256;

/** Accepting side: validate a hello and return the fields of the reply. Throws closing errors. */
export function acceptHello(
  message: Envelope,
  connection: Connection,
  self: { identity: Identity; token?: string; frameBytesMax: number; heartbeatMs: number },
): Omit<HelloOk, "op" | "re"> {
  const hello = message as unknown as Hello;
  if (hello.version !== PROTOCOL_VERSION) {
    throw new PeerError("VERSION_MISMATCH", `protocol version ${JSON.stringify(hello.version)} is not supported; this node speaks ${PROTOCOL_VERSION}`);
  }
  if (self.token !== undefined && !tokensEqual(hello.token, self.token)) {
    throw new PeerError("AUTH_FAILED", hello.token === undefined ? "this node requires a token" : "wrong token");
  }
  const node = checkName(hello.node, "node");
  const role = checkName(hello.role, "role");
  const heartbeatMs = agreeHeartbeat(hello.heartbeatMs, self.heartbeatMs);
  connection.peer = { node, role, version: hello.version };
  connection.heartbeatMs = heartbeatMs;
  return { node: self.identity.node, role: self.identity.role, version: PROTOCOL_VERSION, frameBytesMax: self.frameBytesMax, heartbeatMs };
}

/** Connecting side: the hello to send. */
export function makeHello(identity: Identity, heartbeatMs: number, token?: string): Omit<Hello, "id"> {
  const hello: Omit<Hello, "id"> = { op: "hello", node: identity.node, role: identity.role, version: PROTOCOL_VERSION, heartbeatMs };
  if (token !== undefined) hello.token = token;
  return hello;
}

/** Connecting side: record what the reply says about the peer. */
export function completeHello(connection: Connection, reply: HelloOk): void {
  connection.peer = { node: String(reply.node), role: String(reply.role), version: Number(reply.version) };
  connection.heartbeatMs = typeof reply.heartbeatMs === "number" ? reply.heartbeatMs : 0;
}

function agreeHeartbeat(asked: unknown, own: number): number {
  if (asked === undefined) return own;
  if (typeof asked !== "number" || !Number.isInteger(asked) || asked < 0) {
    throw new PeerError("BAD_ARGUMENT", "hello.heartbeatMs must be a non-negative integer");
  }
  if (asked === 0) return 0;
  return Math.min(limits.heartbeatMsMax, Math.max(limits.heartbeatMsMin, asked));
}

function checkName(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > NAME_CHARS_MAX) {
    throw new PeerError("BAD_ARGUMENT", `hello.${field} must be a string of 1..${NAME_CHARS_MAX} characters`);
  }
  return value;
}

function tokensEqual(given: unknown, expected: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
