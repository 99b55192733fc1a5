// A protocol is a table: for every op a node serves, the request's fields, the reply's fields (or
// none, for one-way messages), the errors it can return, and one line of what it does. Both ends
// use the same table: the serving side validates requests with it, the calling side validates
// replies, TypeScript derives every argument and result type from it, and the spec's op tables
// are generated from it (scripts/protocol_docs.ts), so code, types and prose cannot drift.

import type { ErrorName } from "./errors.ts";
import type { Infer, Schema } from "./schema.ts";

/** A message's schema: a map (an object, or a union of objects picked by a field). */
// biome-ignore lint: the fields of each op differ; `any` here is only the table's upper bound.
type AnyObject = Schema<any>;

export interface OpSpec {
  readonly request: AnyObject;
  /** The reply's fields; null for a message that is only ever sent one-way. */
  readonly reply: AnyObject | null;
  /** May be sent without an id (no reply comes back; an error does, without `re`). */
  readonly oneWay: boolean;
  /** Errors specific to this op, besides those any request can get (README "Errors"). */
  readonly errors: readonly ErrorName[];
  readonly summary: string;
}

/**
 * Fields a serving node keeps as undecoded msgpack bytes: payloads it only stores and forwards (a
 * broker's message bodies). `true` is the value itself; `fields` goes into a map by key, `items`
 * into an array by position, `each` into every element of an array.
 */
export type PayloadPlan = true | { readonly fields?: Readonly<Record<string, PayloadPlan>>; readonly items?: Readonly<Record<number, PayloadPlan>>; readonly each?: PayloadPlan };

export interface Protocol<Ops extends Record<string, OpSpec> = Record<string, OpSpec>> {
  readonly name: string;
  /** Who serves these ops, and who sends them. */
  readonly summary: string;
  readonly ops: Ops;
  /** What the serving side keeps undecoded, in any message of this protocol. */
  readonly payloads?: PayloadPlan;
}

/** Fields every message's envelope owns (core.ts): an op's own field of that name would be lost or misread. */
const ENVELOPE_FIELDS = ["op", "id", "re"];

export function protocol<const Ops extends Record<string, OpSpec>>(name: string, summary: string, ops: Ops, payloads?: PayloadPlan): Protocol<Ops> {
  for (const [op, spec] of Object.entries(ops)) {
    for (const [part, s] of [["request", spec.request], ["reply", spec.reply]] as const) {
      const fields = (s as { fields?: Record<string, unknown> } | null)?.fields;
      const clash = fields === undefined ? undefined : ENVELOPE_FIELDS.find((f) => Object.hasOwn(fields, f));
      if (clash !== undefined && !(name === "core" && op === "error")) throw new Error(`protocol ${name}: the ${part} of ${op} has a field "${clash}", which the envelope owns`);
    }
  }
  return payloads === undefined ? { name, summary, ops } : { name, summary, ops, payloads };
}

/** A request answered with `ok` (reply fields) or `error`; `oneWay: true` if it may also be sent without id. */
export function request<Req extends AnyObject, Rep extends AnyObject, const O extends boolean = false>(
  req: Req,
  reply: Rep,
  meta: { summary: string; errors?: readonly ErrorName[]; oneWay?: O },
): { request: Req; reply: Rep; oneWay: O; errors: readonly ErrorName[]; summary: string } {
  return { request: req, reply, oneWay: (meta.oneWay ?? false) as O, errors: meta.errors ?? [], summary: meta.summary };
}

/** A message sent without id that gets no reply. */
export function message<Req extends AnyObject>(req: Req, meta: { summary: string; errors?: readonly ErrorName[] }): { request: Req; reply: null; oneWay: true; errors: readonly ErrorName[]; summary: string } {
  return { request: req, reply: null, oneWay: true, errors: meta.errors ?? [], summary: meta.summary };
}

export type OpsOf<P> = P extends Protocol<infer O> ? O : never;
export type OpName<P> = keyof OpsOf<P> & string;
/** Ops that can be called and answered. */
export type CallName<P> = { [K in OpName<P>]: OpsOf<P>[K]["reply"] extends null ? never : K }[OpName<P>];
/** Ops that can be sent one-way. */
export type SendName<P> = { [K in OpName<P>]: OpsOf<P>[K]["oneWay"] extends true ? K : never }[OpName<P>];
export type RequestOf<P, K extends OpName<P>> = Infer<OpsOf<P>[K]["request"]>;
export type ReplyOf<P, K extends OpName<P>> = OpsOf<P>[K]["reply"] extends Schema<infer R> ? R : void;
