// Typed errors. One class, PeerError, carries a stable protocol code (protocols/errors.ts); a
// caller matches on `err.name` (e.g. "TIMEOUT") or `err.code`, never on the message text.

import { ErrorCodes, errorNameOf, type ErrorName } from "../protocols/errors.ts";
import type { ErrorReply } from "../protocols/core.ts";
import { SchemaError } from "../protocols/schema.ts";
import { limits } from "./limits.ts";

export class PeerError extends Error {
  override readonly name: ErrorName | "UNKNOWN";
  readonly code: number;
  readonly definite: boolean;
  /** The id of the request this error answers, when it is known (e.g. a bad field of a readable request). */
  re: number | undefined;
  /** Where to go instead (NOT_LEADER: the leader's address). */
  readonly hint: string | undefined;

  constructor(name: ErrorName, message: string, options?: { cause?: unknown; re?: number; hint?: string }) {
    super(message, options);
    this.name = name;
    this.code = ErrorCodes[name].code;
    this.definite = ErrorCodes[name].definite;
    this.re = options?.re;
    this.hint = options?.hint;
  }

  /** Whether the sender of this error closes the connection after it. */
  get closes(): boolean {
    return this.name !== "UNKNOWN" && ErrorCodes[this.name].closes;
  }

  /** Rebuild an error received on the wire; unknown codes keep their number. */
  static fromWire(reply: Readonly<Record<string, unknown>>): PeerError {
    const code = typeof reply.code === "number" ? reply.code : ErrorCodes.INTERNAL.code;
    const message = typeof reply.message === "string" ? reply.message : "(no message)";
    const name = errorNameOf(code);
    const hint = typeof reply.hint === "string" ? reply.hint : undefined;
    if (name !== undefined) return new PeerError(name, message, { hint });
    const err = new PeerError("INTERNAL", message);
    Object.assign(err, { name: "UNKNOWN", code, definite: reply.definite === true });
    return err;
  }

  toWire(re: number | undefined = this.re): ErrorReply {
    const reply: ErrorReply = { op: "error", code: this.code, name: this.name, message: clip(this.message, limits.errorMessageCharsMax), definite: this.definite };
    if (re !== undefined) reply.re = re;
    if (this.hint !== undefined) reply.hint = this.hint;
    return reply;
  }
}

/**
 * Turn anything thrown by a handler into a PeerError: a schema violation is BAD_ARGUMENT, anything
 * else that is not a PeerError is a bug, reported as INTERNAL.
 */
export function asPeerError(err: unknown): PeerError {
  if (err instanceof PeerError) return err;
  if (err instanceof SchemaError) return new PeerError("BAD_ARGUMENT", err.message);
  const message = err instanceof Error ? err.message : String(err);
  return new PeerError("INTERNAL", message, { cause: err });
}

/** A value quoted for an error message, cut to `maxChars`: errors never echo a large input back. */
export function quote(value: unknown, maxChars = 64): string {
  const text = typeof value === "string" ? value : String(value);
  return JSON.stringify(clip(text, maxChars));
}

function clip(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}
