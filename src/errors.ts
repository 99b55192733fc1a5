// Typed errors. One class, PeerError, carries a stable protocol code (protocols/errors.ts); a
// caller matches on `err.name` (e.g. "TIMEOUT") or `err.code`, never on the message text.

import { ErrorCodes, errorNameOf, type ErrorName } from "../protocols/errors.ts";
import type { ErrorReply } from "../protocols/core.ts";

export class PeerError extends Error {
  override readonly name: ErrorName | "UNKNOWN";
  readonly code: number;
  readonly definite: boolean;

  constructor(name: ErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
    this.code = ErrorCodes[name].code;
    this.definite = ErrorCodes[name].definite;
  }

  /** Whether the sender of this error closes the connection after it. */
  get closes(): boolean {
    return this.name !== "UNKNOWN" && ErrorCodes[this.name].closes;
  }

  /** Rebuild an error received on the wire; unknown codes keep their number. */
  static fromWire(reply: Pick<ErrorReply, "code" | "message" | "definite">): PeerError {
    const name = errorNameOf(reply.code);
    if (name !== undefined) return new PeerError(name, String(reply.message));
    const err = new PeerError("INTERNAL", String(reply.message));
    Object.assign(err, { name: "UNKNOWN", code: reply.code, definite: reply.definite === true });
    return err;
  }

  toWire(re?: number): ErrorReply {
    const reply: ErrorReply = { op: "error", code: this.code, name: this.name, message: this.message, definite: this.definite };
    if (re !== undefined) reply.re = re;
    return reply;
  }
}

/** Turn anything thrown by a handler into a PeerError; a non-PeerError is a bug, reported as INTERNAL. */
export function asPeerError(err: unknown): PeerError {
  if (err instanceof PeerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PeerError("INTERNAL", message, { cause: err });
}
