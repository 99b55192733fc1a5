// Our own msgpack codec. Why not a library: the wire contract says integers are integers up to
// ±2^53 in every msgpack encoding, both ways (msgpackr decodes a uint64 6 as a BigInt and encodes
// 2^32 + 8 as a float64, which breaks typed clients in Go or Rust); 0xc1 and truncated input are
// malformed frames, not values; extension types are refused with a typed error; nesting is
// bounded; and the broker keeps message bodies as opaque bytes (Raw) that it forwards without
// decoding or re-encoding them. Pure JS, no native code, so the compiled binary stays portable.

import type { PayloadPlan } from "../../protocols/protocol.ts";
import { limits } from "../limits.ts";

/**
 * An already-encoded msgpack value (never nil), kept as its bytes: a payload a node stores and
 * forwards without decoding it. The encoder writes it verbatim.
 */
export class Raw {
  constructor(readonly bytes: Uint8Array) {}
  /** Marks it for the schemas (protocols/schema.ts isOpaque). */
  get opaque(): true {
    return true;
  }
}

/** A msgpack extension value, as a lenient decoder returns it (and the encoder writes it back). */
export class Ext {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/** Input that is not msgpack at all, or is cut short: the frame is unusable (MALFORMED_FRAME). */
export class MalformedError extends Error {
  override readonly name = "MalformedError";
}

const textEncoder = new TextEncoder();
const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const SAFE_MIN = Number.MIN_SAFE_INTEGER;
const STRING_CACHE_SLOTS = 4096;
/** Strings up to this many bytes are interned on decode (longer ones rarely repeat, and cost more to compare). */
const SHORT_STRING_BYTES_MAX = 24;
const stringCache: Array<string | undefined> = new Array(STRING_CACHE_SLOTS);
/** Eight bytes for reassembling floats (one DataView for the process, not one per decode). */
const scratch = new DataView(new ArrayBuffer(8));

/**
 * Buffer's copy works on any Uint8Array and makes no view: in Bun it is about twice as fast as
 * `set(subarray(...))` for the 50–300-byte ranges a broker splices per delivery.
 */
const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

/**
 * Buffer's undocumented but long-standing native string methods (Node has them too; msgpackr uses
 * utf8Write): no argument parsing and no view per call. utf8Slice is ~20 % cheaper than
 * toString("utf8", a, b) for the short strings of an envelope.
 */
/**
 * A copy of bytes[start, end), never a view: Buffer's slice() is a view (unlike Uint8Array's), and
 * what arrives from a Bun socket is a Buffer, so `.slice()` on it keeps the whole read alive.
 */
export function copyRange(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  const out = new Uint8Array(end - start);
  bufferCopy.call(bytes, out, 0, start, end);
  return out;
}

type NodeBuffer = Buffer & { utf8Write(s: string, offset: number): number; utf8Slice(start: number, end: number): string };

// ---- encoding --------------------------------------------------------------------------------

export class Encoder {
  // A Buffer for its native utf8Write (see writeString).
  private bytes: NodeBuffer = Buffer.alloc(16 * 1024) as NodeBuffer;
  private view = new DataView(this.bytes.buffer);
  private pos = 0;

  /**
   * Encode one value. The result is a view into this encoder's buffer, valid until the next call:
   * copy it to keep it (OutboundBuffer does). Throws TypeError for values msgpack cannot carry
   * (functions, symbols, integers beyond ±2^53, nesting deeper than msgpackDepthMax).
   */
  encode(value: unknown): Uint8Array {
    this.pos = 0;
    this.write(value, 0);
    return this.bytes.subarray(0, this.pos);
  }

  // Composing a frame piece by piece (a broker's deliver.batch splices stored bytes into it):
  // begin(), then the write methods in order, then finish() for the view (valid until the next use).
  begin(): void {
    this.pos = 0;
  }

  finish(): Uint8Array {
    return this.bytes.subarray(0, this.pos);
  }

  writeValue(value: unknown): void {
    this.write(value, 0);
  }

  writeBool(value: boolean): void {
    this.ensure(1);
    this.bytes[this.pos++] = value ? 0xc3 : 0xc2;
  }

  /** Bytes written verbatim (an already-encoded value, or several). */
  writeRange(bytes: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    bufferCopy.call(bytes, this.bytes, this.pos, start, end);
    this.pos += n;
  }

  private ensure(more: number): void {
    const need = this.pos + more;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const grown = Buffer.alloc(size) as NodeBuffer;
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  private write(value: unknown, depth: number): void {
    switch (typeof value) {
      case "string":
        return this.writeString(value);
      case "number":
        return Number.isInteger(value) ? this.writeInt(value) : this.writeFloat(value);
      case "boolean":
        this.ensure(1);
        this.bytes[this.pos++] = value ? 0xc3 : 0xc2;
        return;
      case "undefined":
        this.ensure(1);
        this.bytes[this.pos++] = 0xc0;
        return;
      case "bigint":
        return this.writeBigInt(value);
      case "object":
        if (value === null) {
          this.ensure(1);
          this.bytes[this.pos++] = 0xc0;
          return;
        }
        if (depth >= limits.msgpackDepthMax) throw new TypeError(`value nested deeper than ${limits.msgpackDepthMax} levels (or cyclic)`);
        if (Array.isArray(value)) return this.writeArray(value, depth);
        // Plain objects first: they are most of what a node sends.
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto === Object.prototype || proto === null) return this.writeObject(value as Record<string, unknown>, depth);
        if (value instanceof Uint8Array) return this.writeBin(value);
        if (value instanceof Raw) return this.writeRaw(value.bytes);
        if (value instanceof Ext) return this.writeExt(value);
        if (value instanceof Map) return this.writeMapEntries([...value.entries()], depth);
        if (ArrayBuffer.isView(value)) return this.writeBin(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        if (value instanceof ArrayBuffer) return this.writeBin(new Uint8Array(value));
        return this.writeObject(value as Record<string, unknown>, depth);
      default:
        throw new TypeError(`cannot encode a ${typeof value} in msgpack`);
    }
  }

  writeInt(n: number): void {
    this.ensure(9);
    const b = this.bytes;
    if (n >= 0) {
      if (n < 0x80) b[this.pos++] = n;
      else if (n < 0x100) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = n;
      } else if (n < 0x10000) {
        b[this.pos++] = 0xcd;
        this.view.setUint16(this.pos, n);
        this.pos += 2;
      } else if (n < 0x100000000) {
        b[this.pos++] = 0xce;
        this.view.setUint32(this.pos, n);
        this.pos += 4;
      } else if (n <= SAFE_MAX) {
        b[this.pos++] = 0xcf;
        this.view.setUint32(this.pos, Math.floor(n / 0x100000000));
        this.view.setUint32(this.pos + 4, n >>> 0);
        this.pos += 8;
      } else return this.writeFloat(n); // integral but past 2^53: only a float can carry it
    } else {
      if (n >= -0x20) b[this.pos++] = n & 0xff;
      else if (n >= -0x80) {
        b[this.pos++] = 0xd0;
        this.view.setInt8(this.pos++, n);
      } else if (n >= -0x8000) {
        b[this.pos++] = 0xd1;
        this.view.setInt16(this.pos, n);
        this.pos += 2;
      } else if (n >= -0x80000000) {
        b[this.pos++] = 0xd2;
        this.view.setInt32(this.pos, n);
        this.pos += 4;
      } else if (n >= SAFE_MIN) {
        b[this.pos++] = 0xd3;
        this.view.setBigInt64(this.pos, BigInt(n));
        this.pos += 8;
      } else return this.writeFloat(n);
    }
  }

  /** A BigInt is exact in 64 bits or refused (a lenient decoder gives one for an integer past 2^53). */
  private writeBigInt(n: bigint): void {
    if (n >= BigInt(SAFE_MIN) && n <= BigInt(SAFE_MAX)) return this.writeInt(Number(n));
    this.ensure(9);
    if (n > 0n && n < 1n << 64n) {
      this.bytes[this.pos++] = 0xcf;
      this.view.setBigUint64(this.pos, n);
    } else if (n < 0n && n >= -(1n << 63n)) {
      this.bytes[this.pos++] = 0xd3;
      this.view.setBigInt64(this.pos, n);
    } else throw new TypeError(`integer ${n} does not fit in 64 bits`);
    this.pos += 8;
  }

  private writeExt(ext: Ext): void {
    const n = ext.data.length;
    this.ensure(6 + n);
    const fixed = [1, 2, 4, 8, 16].indexOf(n);
    if (fixed >= 0) this.bytes[this.pos++] = 0xd4 + fixed;
    else if (n < 0x100) {
      this.bytes[this.pos++] = 0xc7;
      this.bytes[this.pos++] = n;
    } else if (n < 0x10000) {
      this.bytes[this.pos++] = 0xc8;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.bytes[this.pos++] = 0xc9;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
    this.view.setInt8(this.pos++, ext.type);
    this.bytes.set(ext.data, this.pos);
    this.pos += n;
  }

  private writeFloat(n: number): void {
    this.ensure(9);
    this.bytes[this.pos++] = 0xcb;
    this.view.setFloat64(this.pos, n);
    this.pos += 8;
  }

  writeString(s: string): void {
    const length = s.length;
    // UTF-8 needs at most 3 bytes per UTF-16 unit. Reserve the header for that bound, write, and
    // move the bytes if the real length needs a smaller header (the usual case: a few bytes).
    const bound = length * 3;
    const headerBytes = bound < 32 ? 1 : bound < 0x100 ? 2 : bound < 0x10000 ? 3 : 5;
    this.ensure(headerBytes + bound);
    const start = this.pos + headerBytes;
    let written: number;
    // By hand for a few characters; past that Buffer's utf8Write (a native call without the view
    // that TextEncoder.encodeInto needs) is several times faster: 33 ns flat against 138 ns by
    // hand and 86 ns for encodeInto at 66 characters, in Bun.
    if (length <= 8) written = writeUtf8Short(s, this.bytes, start);
    else written = this.bytes.utf8Write(s, start);
    const needHeader = written < 32 ? 1 : written < 0x100 ? 2 : written < 0x10000 ? 3 : 5;
    if (needHeader !== headerBytes) this.bytes.copyWithin(this.pos + needHeader, start, start + written);
    const b = this.bytes;
    if (needHeader === 1) b[this.pos] = 0xa0 | written;
    else if (needHeader === 2) {
      b[this.pos] = 0xd9;
      b[this.pos + 1] = written;
    } else if (needHeader === 3) {
      b[this.pos] = 0xda;
      this.view.setUint16(this.pos + 1, written);
    } else {
      b[this.pos] = 0xdb;
      this.view.setUint32(this.pos + 1, written);
    }
    this.pos += needHeader + written;
  }

  private writeBin(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(5 + n);
    if (n < 0x100) {
      this.bytes[this.pos++] = 0xc4;
      this.bytes[this.pos++] = n;
    } else if (n < 0x10000) {
      this.bytes[this.pos++] = 0xc5;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.bytes[this.pos++] = 0xc6;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
    this.bytes.set(bytes, this.pos);
    this.pos += n;
  }

  private writeRaw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  writeArrayHeader(n: number): void {
    this.ensure(5);
    if (n < 16) this.bytes[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      this.bytes[this.pos++] = 0xdc;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.bytes[this.pos++] = 0xdd;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  writeMapHeader(n: number): void {
    this.ensure(5);
    if (n < 16) this.bytes[this.pos++] = 0x80 | n;
    else if (n < 0x10000) {
      this.bytes[this.pos++] = 0xde;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.bytes[this.pos++] = 0xdf;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  private writeArray(items: readonly unknown[], depth: number): void {
    this.writeArrayHeader(items.length);
    for (let i = 0; i < items.length; i++) this.write(items[i], depth + 1);
  }

  /** Plain objects become maps; properties that are undefined are left out (as JSON does). */
  private writeObject(object: Record<string, unknown>, depth: number): void {
    // The map header is written for every key and patched if some are undefined: one pass.
    const keys = Object.keys(object);
    const headerAt = this.pos;
    this.writeMapHeader(keys.length);
    let count = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const v = object[key];
      if (v === undefined) continue;
      count++;
      this.writeString(key);
      this.write(v, depth + 1);
    }
    if (count !== keys.length) this.patchMapHeader(headerAt, keys.length, count);
  }

  /** Rewrite a map header written for `written` entries to say `count` (fewer), in the same width. */
  private patchMapHeader(at: number, written: number, count: number): void {
    const b = this.bytes;
    if (written < 16) b[at] = 0x80 | count;
    else if (written < 0x10000) {
      b[at + 1] = count >> 8;
      b[at + 2] = count & 0xff;
    } else this.view.setUint32(at + 1, count);
  }

  private writeMapEntries(entries: Array<[unknown, unknown]>, depth: number): void {
    this.writeMapHeader(entries.length);
    for (const [k, v] of entries) {
      this.write(k, depth + 1);
      this.write(v, depth + 1);
    }
  }
}

/** UTF-8 of a short string, straight into `out` (the caller reserved 3 bytes per unit). */
function writeUtf8Short(s: string, out: Uint8Array, start: number): number {
  let at = start;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) out[at++] = c;
    else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[at++] = 0xf0 | (c >> 18);
      out[at++] = 0x80 | ((c >> 12) & 0x3f);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate: what TextEncoder writes too
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    }
  }
  return at - start;
}

// ---- decoding --------------------------------------------------------------------------------

/**
 * Decodes one msgpack value. Throws MalformedError for input that is not msgpack (0xc1, cut short,
 * trailing bytes). Values that are valid msgpack but that we do not accept (extension types,
 * integers beyond ±2^53, map keys that are not strings or integers) do not throw: they decode as
 * undefined and `unsupported` says what and where, so the caller can still read the envelope (its
 * op and id) and answer with a typed error instead of dropping the connection.
 */
export class Decoder {
  private bytes: Uint8Array = new Uint8Array(0);
  /** The same bytes as a Buffer: its toString(utf8, start, end) needs no view per string. */
  private text: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;
  private lenient = false;
  /** The first unsupported value of the last decode, or null. */
  unsupported: string | null = null;

  /**
   * Decode one value. With a plan, the payload fields it names are kept as Raw (their exact bytes,
   * checked to be well-formed msgpack but not decoded). Lenient (for clients, whose payloads are
   * other people's data): an extension value is an Ext and an integer past 2^53 a BigInt,
   * instead of "unsupported".
   */
  decode(bytes: Uint8Array, plan?: PayloadPlan, lenient = false): unknown {
    this.bytes = bytes;
    this.text = asBuffer(bytes);
    this.pos = 0;
    this.end = bytes.length;
    this.unsupported = null;
    this.lenient = lenient;
    if (this.end === 0) throw new MalformedError("empty body");
    const value = this.read(0, plan);
    if (this.pos !== this.end) throw new MalformedError(`${this.end - this.pos} trailing byte(s) after the value`);
    return value;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new MalformedError("body ends in the middle of a value");
  }

  private read(depth: number, plan?: PayloadPlan): unknown {
    if (plan === true) return this.capture(depth);
    this.need(1);
    const b = this.bytes[this.pos++]!;
    if (b < 0x80) return b;
    if (b < 0x90) return this.readMap(b & 0x0f, depth, plan);
    if (b < 0xa0) return this.readArray(b & 0x0f, depth, plan);
    if (b < 0xc0) return this.readString(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0:
        return null;
      case 0xc1:
        throw new MalformedError("byte 0xc1 is never used in msgpack");
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        this.need(1);
        return this.readBin(this.bytes[this.pos++]!);
      case 0xc5:
        this.need(2);
        this.pos += 2;
        return this.readBin(this.u16(this.pos - 2));
      case 0xc6:
        this.need(4);
        this.pos += 4;
        return this.readBin(this.u32(this.pos - 4));
      case 0xc7:
        this.need(1);
        return this.skipExt(this.bytes[this.pos++]!);
      case 0xc8:
        this.need(2);
        this.pos += 2;
        return this.skipExt(this.u16(this.pos - 2));
      case 0xc9:
        this.need(4);
        this.pos += 4;
        return this.skipExt(this.u32(this.pos - 4));
      case 0xca:
        this.need(4);
        scratch.setUint32(0, this.u32(this.pos));
        this.pos += 4;
        return scratch.getFloat32(0);
      case 0xcb:
        this.need(8);
        scratch.setUint32(0, this.u32(this.pos));
        scratch.setUint32(4, this.u32(this.pos + 4));
        this.pos += 8;
        return scratch.getFloat64(0);
      case 0xcc:
        this.need(1);
        return this.bytes[this.pos++]!;
      case 0xcd:
        this.need(2);
        this.pos += 2;
        return this.u16(this.pos - 2);
      case 0xce:
        this.need(4);
        this.pos += 4;
        return this.u32(this.pos - 4);
      case 0xcf: {
        this.need(8);
        const high = this.u32(this.pos);
        const low = this.u32(this.pos + 4);
        this.pos += 8;
        if (high > 0x1fffff) return this.lenient ? (BigInt(high) << 32n) | BigInt(low) : this.refuse("an unsigned integer beyond 2^53");
        return high * 0x100000000 + low;
      }
      case 0xd0:
        this.need(1);
        return (this.bytes[this.pos++]! << 24) >> 24;
      case 0xd1:
        this.need(2);
        this.pos += 2;
        return (this.u16(this.pos - 2) << 16) >> 16;
      case 0xd2:
        this.need(4);
        this.pos += 4;
        return this.u32(this.pos - 4) | 0;
      case 0xd3: {
        this.need(8);
        const high = this.u32(this.pos) | 0;
        const low = this.u32(this.pos + 4);
        this.pos += 8;
        const n = high * 0x100000000 + low;
        if (n > SAFE_MAX || n < SAFE_MIN) return this.lenient ? (BigInt(high) << 32n) + BigInt(low) : this.refuse("a signed integer beyond ±2^53");
        return n;
      }
      case 0xd4:
        return this.skipExt(1);
      case 0xd5:
        return this.skipExt(2);
      case 0xd6:
        return this.skipExt(4);
      case 0xd7:
        return this.skipExt(8);
      case 0xd8:
        return this.skipExt(16);
      case 0xd9:
        this.need(1);
        return this.readString(this.bytes[this.pos++]!);
      case 0xda:
        this.need(2);
        this.pos += 2;
        return this.readString(this.u16(this.pos - 2));
      case 0xdb:
        this.need(4);
        this.pos += 4;
        return this.readString(this.u32(this.pos - 4));
      case 0xdc:
        this.need(2);
        this.pos += 2;
        return this.readArray(this.u16(this.pos - 2), depth, plan);
      case 0xdd:
        this.need(4);
        this.pos += 4;
        return this.readArray(this.u32(this.pos - 4), depth, plan);
      case 0xde:
        this.need(2);
        this.pos += 2;
        return this.readMap(this.u16(this.pos - 2), depth, plan);
      default: // 0xdf
        this.need(4);
        this.pos += 4;
        return this.readMap(this.u32(this.pos - 4), depth, plan);
    }
  }

  private u16(at: number): number {
    const b = this.bytes;
    return (b[at]! << 8) | b[at + 1]!;
  }

  private u32(at: number): number {
    const b = this.bytes;
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  }

  private refuse(what: string): undefined {
    this.unsupported ??= what;
    return undefined;
  }

  private skipExt(dataBytes: number): Ext | undefined {
    this.need(1 + dataBytes);
    const type = (this.bytes[this.pos]! << 24) >> 24;
    this.pos += 1 + dataBytes;
    if (this.lenient) return new Ext(type, copyRange(this.bytes, this.pos - dataBytes, this.pos));
    return this.refuse(`msgpack extension type ${type} (not supported)`);
  }

  /** The one value at bytes[start, end), as decode() would give it (for a field inside a frame parsed by hand). */
  decodeAt(bytes: Uint8Array, start: number, end: number, lenient = false, text: Buffer = asBuffer(bytes)): unknown {
    this.bytes = bytes;
    this.text = text;
    this.pos = start;
    this.end = end;
    this.unsupported = null;
    this.lenient = lenient;
    const value = this.read(0);
    if (this.pos !== end) throw new MalformedError("the value does not fill its range");
    return value;
  }

  /** A payload kept as its bytes (well-formed, nesting bounded, not decoded); nil stays null. */
  private capture(depth: number): Raw | null {
    const start = this.pos;
    this.skipValue(depth);
    if (this.pos - start === 1 && this.bytes[start] === 0xc0) return null;
    return new Raw(copyRange(this.bytes, start, this.pos));
  }

  private readBin(n: number): Uint8Array {
    this.need(n);
    // A copy: a kept value must not pin the whole receive chunk it came in.
    const out = copyRange(this.bytes, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private readString(n: number): string {
    if (n <= SHORT_STRING_BYTES_MAX) return this.readShortString(n);
    this.need(n);
    const start = this.pos;
    this.pos += n;
    return (this.text as NodeBuffer).utf8Slice(start, start + n);
  }

  /**
   * Short strings — map keys, queue names, routing keys, tags — repeat in almost every message:
   * they come from a small cache of interned strings, so the engine neither builds them again nor
   * hashes them again when they are looked up in a Map (both showed in the broker's profile).
   */
  private readShortString(n: number): string {
    if (n === 0) return "";
    this.need(n);
    const start = this.pos;
    this.pos += n;
    return intern(this.bytes, this.text, start, n);
  }

  private checkDepth(depth: number): void {
    if (depth >= limits.msgpackDepthMax) throw new MalformedError(`value nested deeper than ${limits.msgpackDepthMax} levels`);
  }

  private readArray(n: number, depth: number, plan?: PayloadPlan): unknown[] {
    this.checkDepth(depth);
    // Every element takes at least one byte: a huge count in a small frame is a lie, not an allocation.
    this.need(n);
    const out = new Array<unknown>(n);
    if (plan === undefined || plan === true) {
      for (let i = 0; i < n; i++) out[i] = this.read(depth + 1);
    } else {
      for (let i = 0; i < n; i++) out[i] = this.read(depth + 1, plan.each ?? plan.items?.[i]);
    }
    return out;
  }

  private readMap(n: number, depth: number, plan?: PayloadPlan): Record<string, unknown> {
    const fields = plan === undefined || plan === true ? undefined : plan.fields;
    this.checkDepth(depth);
    this.need(n * 2);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const first = this.bytes[this.pos]!;
      const key = (first & 0xe0) === 0xa0 ? (this.pos++, this.readString(first & 0x1f)) : this.read(depth + 1);
      const value = this.read(depth + 1, fields === undefined || typeof key !== "string" || !Object.hasOwn(fields, key) ? undefined : fields[key]);
      if (typeof key === "string") {
        // A "__proto__" key must stay data: assignment would replace the object's prototype.
        if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        else out[key] = value;
      } else if (typeof key === "number" || (this.lenient && key !== undefined)) out[String(key)] = value;
      else this.refuse("a map key that is not a string or an integer");
    }
    return out;
  }

  /** The offset just past the value that starts at `offset` (no allocation; for opaque fields). */
  skip(bytes: Uint8Array, offset: number, end = bytes.length): number {
    this.bytes = bytes;
    this.end = end;
    this.pos = offset;
    this.skipValue(0);
    return this.pos;
  }

  private skipValue(depth: number): void {
    this.need(1);
    const b = this.bytes[this.pos++]!;
    if (b < 0x80 || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return;
    if (b < 0x90) return this.skipItems((b & 0x0f) * 2, depth);
    if (b < 0xa0) return this.skipItems(b & 0x0f, depth);
    if (b < 0xc0) return this.skipBytes(b & 0x1f);
    switch (b) {
      case 0xc1:
        throw new MalformedError("byte 0xc1 is never used in msgpack");
      case 0xc4: case 0xd9: this.need(1); return this.skipBytes(this.bytes[this.pos++]!);
      case 0xc5: case 0xda: this.need(2); this.pos += 2; return this.skipBytes(this.u16(this.pos - 2));
      case 0xc6: case 0xdb: this.need(4); this.pos += 4; return this.skipBytes(this.u32(this.pos - 4));
      case 0xc7: this.need(1); return this.skipBytes(1 + this.bytes[this.pos++]!);
      case 0xc8: this.need(2); this.pos += 2; return this.skipBytes(1 + this.u16(this.pos - 2));
      case 0xc9: this.need(4); this.pos += 4; return this.skipBytes(1 + this.u32(this.pos - 4));
      case 0xca: case 0xce: case 0xd2: return this.skipBytes(4);
      case 0xcb: case 0xcf: case 0xd3: return this.skipBytes(8);
      case 0xcc: case 0xd0: return this.skipBytes(1);
      case 0xcd: case 0xd1: return this.skipBytes(2);
      case 0xd4: return this.skipBytes(2);
      case 0xd5: return this.skipBytes(3);
      case 0xd6: return this.skipBytes(5);
      case 0xd7: return this.skipBytes(9);
      case 0xd8: return this.skipBytes(17);
      case 0xdc: this.need(2); this.pos += 2; return this.skipItems(this.u16(this.pos - 2), depth);
      case 0xdd: this.need(4); this.pos += 4; return this.skipItems(this.u32(this.pos - 4), depth);
      case 0xde: this.need(2); this.pos += 2; return this.skipItems(this.u16(this.pos - 2) * 2, depth);
      default: this.need(4); this.pos += 4; return this.skipItems(this.u32(this.pos - 4) * 2, depth);
    }
  }

  private skipBytes(n: number): void {
    this.need(n);
    this.pos += n;
  }

  private skipItems(n: number, depth: number): void {
    this.checkDepth(depth);
    this.need(n);
    for (let i = 0; i < n; i++) this.skipValue(depth + 1);
  }
}

/**
 * The string of `n` UTF-8 bytes at `start`. Short strings — map keys, queue names, routing keys,
 * tags — repeat in almost every message: they come from a small cache of interned strings, so the
 * engine neither builds them again nor hashes them again when they are looked up in a Map (both
 * showed in the broker's profile).
 */
function intern(b: Uint8Array, text: Buffer, start: number, n: number): string {
  const end = start + n;
  let hash = n;
  for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + b[i]!) | 0;
  const slot = (hash >>> 0) & (STRING_CACHE_SLOTS - 1);
  const cached = stringCache[slot];
  // An ASCII string's UTF-16 units are its bytes: compare in place, no copy kept per entry.
  if (cached !== undefined && cached.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== b[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return cached;
  }
  const made = (text as NodeBuffer).utf8Slice(start, end); // faster in Bun than building it by hand, even at 5 bytes
  stringCache[slot] = made;
  return made;
}

/** A Buffer over the same memory (no copy), for its fast string reads. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A cursor over msgpack bytes, for the few hot frames a node parses by hand (a broker's
 * publish.batch, a client's deliver.batch). Each method reads one value of the kind it names and
 * returns undefined (or -1) when the next value is another kind: the caller then leaves the frame to
 * the generic decoder, which gives the precise error. Only skip() throws (MalformedError).
 */
export class Reader {
  pos: number;
  private readonly skipper = new Decoder();
  /** The same bytes as a Buffer, for string reads (and for Decoder.decodeAt of fields). */
  readonly text: Buffer;

  constructor(
    readonly bytes: Uint8Array,
    pos = 0,
    readonly end = bytes.length,
  ) {
    this.pos = pos;
    this.text = asBuffer(bytes);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** The next byte, not consumed (-1 at the end). */
  peek(): number {
    return this.pos < this.end ? this.bytes[this.pos]! : -1;
  }

  /** Element count of a map, or -1. */
  mapHeader(): number {
    return this.header(0x80, 0xde);
  }

  /** Element count of an array, or -1. */
  arrayHeader(): number {
    return this.header(0x90, 0xdc);
  }

  private header(fix: number, wide16: number): number {
    const b = this.peek();
    if ((b & 0xf0) === fix) {
      this.pos++;
      return b & 0x0f;
    }
    if (b === wide16 && this.pos + 3 <= this.end) {
      this.pos += 3;
      return (this.bytes[this.pos - 2]! << 8) | this.bytes[this.pos - 1]!;
    }
    if (b === wide16 + 1 && this.pos + 5 <= this.end) {
      this.pos += 5;
      return this.u32(this.pos - 4);
    }
    return -1;
  }

  /** A string of at most maxChars characters, or undefined. Interned (short ones) unless it will not repeat. */
  string(maxChars: number, interned = true): string | undefined {
    const n = this.stringHeader(maxChars);
    if (n < 0) return undefined;
    const start = this.pos + this.headBytes;
    const text = interned && n <= SHORT_STRING_BYTES_MAX ? intern(this.bytes, this.text, start, n) : (this.text as NodeBuffer).utf8Slice(start, start + n);
    if (text.length > maxChars) return undefined;
    this.pos = start + n;
    return text;
  }

  /**
   * Past a string of at most maxChars characters, without making it (a field only forwarded);
   * false, staying put, for anything else. A string of more bytes than maxChars is read to count.
   */
  stringOk(maxChars: number): boolean {
    const n = this.stringHeader(maxChars);
    if (n < 0) return false;
    if (n <= maxChars) {
      this.pos += this.headBytes + n;
      return true;
    }
    return this.string(maxChars, false) !== undefined;
  }

  private headBytes = 0;

  /** The byte length of the string at pos (its header's size in headBytes), or -1. */
  private stringHeader(maxChars: number): number {
    const b = this.peek();
    let n: number;
    if ((b & 0xe0) === 0xa0) {
      n = b & 0x1f;
      this.headBytes = 1;
    } else if (b === 0xd9 && this.pos + 2 <= this.end) {
      n = this.bytes[this.pos + 1]!;
      this.headBytes = 2;
    } else if (b === 0xda && this.pos + 3 <= this.end) {
      n = (this.bytes[this.pos + 1]! << 8) | this.bytes[this.pos + 2]!;
      this.headBytes = 3;
    } else if (b === 0xdb && this.pos + 5 <= this.end) {
      n = this.u32(this.pos + 1);
      this.headBytes = 5;
    } else return -1;
    if (this.pos + this.headBytes + n > this.end || n > maxChars * 3) return -1;
    return n;
  }

  /** Consumes a nil and says so; anything else stays. */
  nil(): boolean {
    if (this.peek() !== 0xc0) return false;
    this.pos++;
    return true;
  }

  bool(): boolean | undefined {
    const b = this.peek();
    if (b !== 0xc2 && b !== 0xc3) return undefined;
    this.pos++;
    return b === 0xc3;
  }

  /** A non-negative integer up to 2^53 - 1 in any msgpack number format (integral floats too), or -1. */
  uint(): number {
    const b = this.peek();
    if (b < 0x80 && b >= 0) {
      this.pos++;
      return b;
    }
    if ((b >= 0xd0 && b <= 0xd3) || b === 0xca || b === 0xcb) {
      // Rare forms (a signed or float encoding of a non-negative integer): the decoder reads them.
      if (this.pos + 1 + (b === 0xd0 ? 1 : b === 0xd1 ? 2 : b === 0xd2 || b === 0xca ? 4 : 8) > this.end) return -1;
      const start = this.pos;
      this.skip();
      const n = this.skipper.decodeAt(this.bytes, start, this.pos);
      if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) return n;
      this.pos = start;
      return -1;
    }
    const size = b === 0xcc ? 1 : b === 0xcd ? 2 : b === 0xce ? 4 : b === 0xcf ? 8 : 0;
    if (size === 0 || this.pos + 1 + size > this.end) return -1;
    const at = this.pos + 1;
    let n: number;
    if (size === 1) n = this.bytes[at]!;
    else if (size === 2) n = (this.bytes[at]! << 8) | this.bytes[at + 1]!;
    else if (size === 4) n = this.u32(at);
    else {
      const high = this.u32(at);
      if (high > 0x1fffff) return -1;
      n = high * 0x100000000 + this.u32(at + 4);
    }
    this.pos = at + size;
    return n;
  }

  /** Past the next value, checked well-formed (MalformedError otherwise), without decoding it. */
  skip(): void {
    this.pos = this.skipper.skip(this.bytes, this.pos, this.end);
  }

  private u32(at: number): number {
    const b = this.bytes;
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  }
}

/**
 * The op of a frame body whose first key is "op" (our encoders write it first), or undefined: a
 * quick look that lets a node send its hottest frames to a hand-written parser.
 */
export function peekOp(body: Uint8Array): string | undefined {
  const first = body[0];
  const at = first !== undefined && (first & 0xf0) === 0x80 ? 1 : first === 0xde ? 3 : -1;
  if (at >= 0 && body[at] === 0xa2 && body[at + 1] === 0x6f && body[at + 2] === 0x70) {
    const head = body[at + 3];
    if (head !== undefined && (head & 0xe0) === 0xa0 && at + 4 + (head & 0x1f) <= body.length) return intern(body, asBuffer(body), at + 4, head & 0x1f);
  }
  // "op" later among the keys (another client's encoder): look for it, skipping the values.
  try {
    const r = new Reader(body);
    for (let pairs = r.mapHeader(); pairs > 0; pairs--) {
      const key = r.string(limits.nameCharsMax);
      if (key === undefined) return undefined;
      if (key === "op") return r.string(limits.nameCharsMax);
      r.skip();
    }
  } catch (err) {
    if (!(err instanceof MalformedError)) throw err;
  }
  return undefined;
}

const sharedEncoder = new Encoder();
const sharedDecoder = new Decoder();

/** Encode with the shared encoder: a view valid until the next encode anywhere in the process. */
export function encode(value: unknown): Uint8Array {
  return sharedEncoder.encode(value);
}

/** Encode into a fresh buffer of its own. */
export function encodeCopy(value: unknown): Uint8Array {
  return copyRange(sharedEncoder.encode(value));
}

/** Decode a value; unsupported values throw TypeError naming them (use Decoder to get past them). */
export function decode(bytes: Uint8Array): unknown {
  const value = sharedDecoder.decode(bytes);
  if (sharedDecoder.unsupported !== null) throw new TypeError(`unsupported msgpack value: ${sharedDecoder.unsupported}`);
  return value;
}
