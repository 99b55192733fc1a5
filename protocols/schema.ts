// The contract language of our protocols: one definition per message gives its static type
// (Infer<typeof schema>), its runtime check (schema.check), and its line in the spec (schema.doc).
// Why our own instead of TypeBox or valibot: a check here is a few typeof tests on the decoded
// object, in place, with no allocation on success (measured in README "Protocol contracts"); the
// spec text comes from the same object; and nothing outside the repository can change our wire.
//
// Conventions of the wire: an optional field may be absent or nil; unknown fields are ignored
// (a newer peer may send more); integers are exact up to ±2^53.

export class SchemaError extends Error {
  override readonly name = "SchemaError";
  constructor(
    /** Where in the message, e.g. "messages.3.1"; "" for the message itself. */
    public path: string,
    /** What was expected there, in the spec's words. */
    readonly expected: string,
  ) {
    super(path === "" ? `message must be ${expected}` : `"${path}" must be ${expected}`);
  }

  /** Rebuilds the message after a parent prefixed the path. */
  within(parent: string): SchemaError {
    return new SchemaError(this.path === "" ? parent : `${parent}.${this.path}`, this.expected);
  }
}

declare const optionalBrand: unique symbol;

export interface Schema<T> {
  /** The type as the spec writes it, e.g. `string(1..255)`. */
  readonly doc: string;
  /** Returns the value (nested nil optionals normalized to undefined) or throws SchemaError. */
  check(value: unknown): T;
  /** May be absent from a map (reads as undefined). */
  readonly optional: boolean;
  /** Nil is a value of this type (reads as null). */
  readonly nullable?: boolean;
}

/** A field that may be absent (or nil). */
export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true;
  readonly [optionalBrand]: true;
  readonly inner: Schema<T>;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Fields = Record<string, Schema<unknown>>;
type InferAll<S extends readonly unknown[]> = { -readonly [K in keyof S]: Infer<S[K]> };
type Split<S extends readonly unknown[], N extends number, Head extends unknown[] = []> = Head["length"] extends N
  ? [Head, S]
  : S extends readonly [infer H, ...infer R]
    ? Split<R, N, [...Head, H]>
    : [Head, []];
type Trailing<T extends readonly unknown[]> = { -readonly [K in keyof T]?: T[K] | null };
/** A positional array: the first N items required, the rest optional (missing at the end, or nil). */
export type TupleOf<S extends readonly unknown[], N extends number> = Split<InferAll<S>, N> extends [infer A extends unknown[], infer B extends unknown[]] ? [...A, ...Trailing<B>] : never;
type Flatten<T> = { [K in keyof T]: T[K] } & {};
type RequiredKeys<F extends Fields> = { [K in keyof F]: F[K] extends OptionalSchema<unknown> ? never : K }[keyof F];
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends OptionalSchema<unknown> ? K : never }[keyof F];
export type ObjectOf<F extends Fields> = Flatten<{ [K in RequiredKeys<F>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }>;

export interface ObjectSchema<F extends Fields> extends Schema<ObjectOf<F>> {
  readonly fields: F;
}

function schema<T>(doc: string, check: (value: unknown) => T): Schema<T> {
  return { doc, check, optional: false };
}

function fail(expected: string): never {
  throw new SchemaError("", expected);
}

// A decoded msgpack map is a plain object; anything else (arrays, bytes, an extension value a
// lenient decoder made, a kept Raw) is not.
const isMap = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * A payload the receiving node kept undecoded (the wire's Raw): it is some msgpack value, never
 * nil, and the node does not look inside it (see PayloadPlan in protocol.ts).
 */
export interface Opaque {
  readonly opaque: true;
  readonly bytes: Uint8Array;
}

export function isOpaque(v: unknown): v is Opaque {
  return typeof v === "object" && v !== null && (v as { opaque?: unknown }).opaque === true;
}

export const t = {
  /** A string of minChars..maxChars UTF-16 units. */
  string(maxChars: number, minChars = 0): Schema<string> {
    const doc = minChars === 0 ? `string(≤${maxChars})` : `string(${minChars}..${maxChars})`;
    return schema(doc, (v) => (typeof v === "string" && v.length <= maxChars && v.length >= minChars ? v : fail(doc)));
  },

  /** An integer in min..max (both within ±2^53). */
  int(min: number, max: number): Schema<number> {
    const doc = `int(${fmt(min)}..${fmt(max)})`;
    return schema(doc, (v) => (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : fail(doc)));
  },

  /** Any finite number. */
  number: schema<number>("number", (v) => (typeof v === "number" && Number.isFinite(v) ? v : fail("number"))),

  bool: schema<boolean>("bool", (v) => (typeof v === "boolean" ? v : fail("bool"))),

  literal<const L extends string | number | boolean>(literal: L): Schema<L> {
    const doc = JSON.stringify(literal);
    return schema(doc, (v) => (v === literal ? literal : fail(doc)));
  },

  oneOf<const L extends string>(choices: readonly L[]): Schema<L> {
    const doc = choices.map((c) => JSON.stringify(c)).join(" | ");
    return schema(doc, (v) => (choices.includes(v as L) ? (v as L) : fail(doc)));
  },

  /** Any msgpack value except nil (a message body, a stored value). */
  value: schema<unknown>("any value but nil", (v) => (v === null || v === undefined ? fail("any value but nil") : v)),

  /** Anything, nil included. */
  any: { doc: "any", check: (v: unknown) => v, optional: false, nullable: true } as Schema<unknown>,

  /** A value the predicate accepts; `doc` says which, for the spec. */
  custom<T>(doc: string, accepts: (v: unknown) => v is T): Schema<T> {
    return schema(doc, (v) => (accepts(v) ? v : fail(doc)));
  },

  bytes: schema<Uint8Array>("binary", (v) => (v instanceof Uint8Array ? v : fail("binary"))),

  array<T>(item: Schema<T>, maxLength: number, minLength = 0): Schema<T[]> {
    const doc = `[${item.doc}, …] (${minLength === 0 ? `≤${fmt(maxLength)}` : `${minLength}..${fmt(maxLength)}`})`;
    const anything = item === (t.any as Schema<unknown>);
    return schema(doc, (v) => {
      if (!Array.isArray(v) || v.length > maxLength || v.length < minLength) fail(doc);
      if (anything) return v as T[];
      let i = 0;
      try {
        for (; i < v.length; i++) {
          const checked = item.check(v[i]);
          if (checked !== v[i]) v[i] = checked;
        }
      } catch (err) {
        throw err instanceof SchemaError ? err.within(String(i)) : err;
      }
      return v as T[];
    });
  },

  /**
   * A positional array (a batch entry): the first `required` items must be there; the rest may be
   * missing at the end or nil in the middle.
   */
  tuple<const S extends readonly Schema<unknown>[], const N extends number>(items: S, required: N): Schema<TupleOf<S, N>> {
    const doc = `[${items.map((s, i) => (i < required ? s.doc : `${s.doc}?`)).join(", ")}]`;
    return schema(doc, (v) => {
      if (!Array.isArray(v) || v.length < required || v.length > items.length) fail(doc);
      let i = 0;
      try {
        for (; i < v.length; i++) {
          const x = v[i];
          if (i >= required && (x === null || x === undefined)) continue;
          const checked = items[i]!.check(x);
          if (checked !== x) v[i] = checked;
        }
      } catch (err) {
        throw err instanceof SchemaError ? err.within(String(i)) : err;
      }
      return v as TupleOf<S, N>;
    });
  },

  /** A map with the given fields; other fields are ignored. Checked in place, no copy. */
  object<const F extends Fields>(fields: F): ObjectSchema<F> {
    const entries = Object.entries(fields) as Array<[string, Schema<unknown>]>;
    const doc = `{${entries.map(([k, s]) => `${k}${s.optional ? "?" : ""}: ${s.doc}`).join(", ")}}`;
    return {
      doc,
      optional: false,
      fields,
      check(v: unknown): ObjectOf<F> {
        if (!isMap(v)) fail("a map");
        let key = "";
        try {
          for (let i = 0; i < entries.length; i++) {
            const entry = entries[i]!;
            key = entry[0];
            const x = v[key];
            if (x === undefined || x === null) {
              if (entry[1].optional) {
                if (x === null) v[key] = undefined;
              } else if (entry[1].nullable === true) {
                if (x === undefined) v[key] = null;
              } else throw new SchemaError("", `present: ${entry[1].doc}`);
              continue;
            }
            const checked = entry[1].check(x);
            if (checked !== x) v[key] = checked;
          }
        } catch (err) {
          throw err instanceof SchemaError ? err.within(key) : err;
        }
        return v as ObjectOf<F>;
      },
    };
  },

  /** A map from string keys to values of one schema (message headers). */
  record<T>(value: Schema<T>, maxKeys: number): Schema<Record<string, T>> {
    const doc = `{string: ${value.doc}} (≤${fmt(maxKeys)} keys)`;
    return schema(doc, (v) => {
      if (!isMap(v)) fail(doc);
      let n = 0;
      for (const key in v) {
        if (++n > maxKeys) fail(doc);
        try {
          value.check(v[key]);
        } catch (err) {
          throw err instanceof SchemaError ? err.within(key) : err;
        }
      }
      return v as Record<string, T>;
    });
  },

  /**
   * A value the receiving node may keep undecoded (a payload it only forwards); if decoded, it is
   * checked as `inner`. Kept undecoded, only its first byte says what it is: `firstByteOk` checks
   * that (e.g. "a map") so both forms accept the same values' kinds.
   */
  opaque<T>(inner: Schema<T>, firstByteOk?: (byte: number) => boolean): Schema<T | Opaque> {
    return {
      ...inner,
      check: (v) => {
        if (!isOpaque(v)) return inner.check(v);
        if (firstByteOk !== undefined && !firstByteOk(v.bytes[0]!)) fail(inner.doc);
        return v;
      },
    };
  },

  /** May be absent or nil; reads as undefined. */
  optional<T>(inner: Schema<T>): OptionalSchema<T> {
    return { doc: inner.doc, check: (v) => (v === null || v === undefined ? undefined : inner.check(v)), optional: true, inner } as OptionalSchema<T>;
  },

  /** A value that may be nil (a present field whose value is "nothing", e.g. a missing key's value). */
  nullable<T>(inner: Schema<T>): Schema<T | null> {
    const doc = `${inner.doc} | nil`;
    return { doc, check: (v) => (v === null || v === undefined ? null : inner.check(v)), optional: false, nullable: true };
  },

  /** A map whose `key` field (a string) picks which object schema applies. */
  union<const K extends string, const V extends Record<string, ObjectSchema<Fields>>>(key: K, variants: V): Schema<{ [T in keyof V]: Infer<V[T]> & { [P in K]: T } }[keyof V]> {
    const doc = Object.entries(variants).map(([tag, s]) => `${s.doc.slice(0, -1)}${s.doc === "{}" ? "" : ", "}${key}: ${JSON.stringify(tag)}}`).join(" | ");
    return schema(doc, (v) => {
      if (!isMap(v)) fail("a map");
      const tag = v[key];
      const variant = typeof tag === "string" && Object.hasOwn(variants, tag) ? variants[tag] : undefined;
      if (variant === undefined) throw new SchemaError(key, Object.keys(variants).map((k) => JSON.stringify(k)).join(" | "));
      return variant.check(v) as never;
    });
  },
};

/** The value if it matches the schema, else undefined: for messages a receiver ignores when they are not its own. */
export function parsed<T>(schema: Schema<T>, value: unknown): T | undefined {
  try {
    return schema.check(value);
  } catch (err) {
    if (err instanceof SchemaError) return undefined;
    throw err;
  }
}

function fmt(n: number): string {
  if (n === Number.MAX_SAFE_INTEGER) return "2^53-1";
  if (n === Number.MIN_SAFE_INTEGER) return "-(2^53-1)";
  return String(n);
}
