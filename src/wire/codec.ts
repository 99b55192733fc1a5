// Frame bodies: a msgpack map with a string `op` (protocols/README.md). Decoding checks the
// envelope before anyone sees it and classifies every failure with a stable error code, with `re`
// set whenever the request's id could be read, so the caller does not wait out a timeout.

import type { Envelope } from "../../protocols/core.ts";
import type { PayloadPlan } from "../../protocols/protocol.ts";
import { PeerError, quote } from "../errors.ts";
import { Decoder, Encoder, MalformedError } from "./msgpack.ts";

const encoder = new Encoder();
const decoder = new Decoder();

/**
 * Encode a message body. The result is a view into the shared encoder's buffer: valid until the
 * next encode, so the caller copies it at once (OutboundBuffer does).
 */
export function encodeBody(message: object): Uint8Array {
  return encoder.encode(message);
}

/** Encode a whole frame (length prefix + body) into a fresh buffer, for callers outside a Connection. */
export function encodeFrame(message: object): Uint8Array {
  const body = encoder.encode(message);
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  return frame;
}

/**
 * Decode and check one body. MALFORMED_FRAME (closes) for bytes that are not one msgpack value;
 * BAD_ENVELOPE for a value that is not an envelope; BAD_ARGUMENT for a value we do not accept
 * inside a well-formed envelope (an extension type, an integer beyond ±2^53), unless lenient.
 * The payload fields of `plan` stay undecoded (Raw).
 */
export function decodeBody(body: Uint8Array, plan?: PayloadPlan, lenient = false): Envelope {
  let value: unknown;
  try {
    value = decoder.decode(body, plan, lenient);
  } catch (err) {
    if (err instanceof MalformedError) throw new PeerError("MALFORMED_FRAME", `frame body is not msgpack: ${err.message}`);
    throw err;
  }
  const envelope = checkEnvelope(value);
  if (decoder.unsupported !== null) throw new PeerError("BAD_ARGUMENT", `unsupported value in the message: ${decoder.unsupported}`, { re: envelope.id });
  return envelope;
}

export function checkEnvelope(value: unknown): Envelope {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
    throw new PeerError("BAD_ENVELOPE", "frame body is not a map");
  }
  const envelope = value as Envelope;
  const id = isWireId(envelope.id) ? envelope.id : undefined;
  if (envelope.id !== undefined && envelope.id !== null && id === undefined) throw new PeerError("BAD_ENVELOPE", `"id" is not an integer in 0..2^53-1: ${quote(envelope.id)}`);
  if (typeof envelope.op !== "string" || envelope.op.length === 0) throw new PeerError("BAD_ENVELOPE", "frame body has no string \"op\"", { re: id });
  if (envelope.re !== undefined && envelope.re !== null && !isWireId(envelope.re)) throw new PeerError("BAD_ENVELOPE", `"re" is not an integer in 0..2^53-1: ${quote(envelope.re)}`, { re: id });
  if (envelope.id === null) envelope.id = undefined;
  if (envelope.re === null) envelope.re = undefined;
  return envelope;
}

function isWireId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
