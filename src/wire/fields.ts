// Argument checks for handlers: each returns the typed field or throws BAD_ARGUMENT naming it.
// Keeps validation one line per field in every role's handlers.

import type { Envelope } from "../../protocols/core.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";

function bad(field: string, expected: string): PeerError {
  return new PeerError("BAD_ARGUMENT", `"${field}" must be ${expected}`);
}

export function str(message: Envelope, field: string, maxChars: number = limits.nameCharsMax): string {
  const value = message[field];
  if (typeof value !== "string" || value.length > maxChars) throw bad(field, `a string of at most ${maxChars} characters`);
  return value;
}

export function name(message: Envelope, field: string): string {
  const value = str(message, field);
  if (value.length === 0) throw bad(field, "a non-empty string");
  return value;
}

export function optStr(message: Envelope, field: string, fallback?: string): string | undefined {
  return message[field] === undefined || message[field] === null ? fallback : str(message, field);
}

export function int(message: Envelope, field: string, min: number, max: number, fallback?: number): number {
  const value = message[field];
  if ((value === undefined || value === null) && fallback !== undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(field, `an integer in ${min}..${max}`);
  }
  return value;
}

export function bool(message: Envelope, field: string, fallback: boolean): boolean {
  const value = message[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") throw bad(field, "a boolean");
  return value;
}

export function oneOf<T extends string>(message: Envelope, field: string, allowed: readonly T[], fallback: T): T {
  const value = message[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string" || !allowed.includes(value as T)) throw bad(field, `one of ${allowed.join(", ")}`);
  return value as T;
}

export function array(message: Envelope, field: string, maxLength: number): unknown[] {
  const value = message[field];
  if (!Array.isArray(value) || value.length === 0 || value.length > maxLength) throw bad(field, `a non-empty array of at most ${maxLength} elements`);
  return value;
}

export function nameArray(message: Envelope, field: string, maxLength: number): string[] {
  const values = array(message, field, maxLength);
  for (const v of values) if (typeof v !== "string" || v.length === 0 || v.length > limits.nameCharsMax) throw bad(field, "an array of non-empty names");
  return values as string[];
}

/** A message body or stored value: any msgpack value except nil. */
export function value(message: Envelope, field: string): unknown {
  const v = message[field];
  if (v === undefined || v === null) throw bad(field, "present (any value but nil)");
  return v;
}

/** Rough memory cost of a value, for the broker's byte bound. */
export function sizeOf(v: unknown): number {
  if (typeof v === "string") return v.length + 16;
  if (v instanceof Uint8Array) return v.byteLength + 16;
  if (typeof v === "number" || typeof v === "boolean") return 8;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + sizeOf(x), 16);
  if (v !== null && typeof v === "object") return Object.entries(v).reduce((n, [k, x]) => n + k.length + sizeOf(x), 16);
  return 8;
}
