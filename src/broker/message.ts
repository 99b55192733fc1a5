// A queued message is a range of bytes: the elements of its publish entry exactly as they came —
// [exchange, key, body, replyTo?, correlationId?, headers?] — inside a slab, the copy of the frame
// it came in (one copy per frame, shared by that frame's messages). A delivery writes the delivery
// number and flag and then splices this range: the broker never decodes, walks or re-encodes what
// it forwards. Fanout gives each queue its own Message (the redelivered flag is per queue) over
// the same range.
//
// Memory: a slab is charged to the broker's bound whole, from its first message until its last
// leaves, so a few messages that pin a large frame count for all of it.

import type { MessageProps } from "../../protocols/broker.ts";
import { Decoder, encodeCopy, Raw } from "../wire/msgpack.ts";

export class Slab {
  /** Messages (copies included) still held over this slab. */
  live = 0;
  constructor(readonly bytes: Uint8Array) {}
}

export class Message {
  redelivered = false;
  constructor(
    readonly slab: Slab,
    /** The entry's elements: slab.bytes[start, end), `count` of them. */
    readonly start: number,
    readonly end: number,
    readonly count: number,
    readonly exchange: string,
    readonly key: string,
  ) {}

  /** Bytes of the entry, the part of a delivery that is the message. */
  get size(): number {
    return this.end - this.start;
  }

  copy(): Message {
    return new Message(this.slab, this.start, this.end, this.count, this.exchange, this.key);
  }

  /** A message built from decoded fields (a single publish, or a batch the generic path parsed). */
  static of(exchange: string, key: string, body: unknown, props: MessageProps | undefined): Message {
    const entry: unknown[] = [exchange, key, body];
    if (props !== undefined) {
      const tail = [props.replyTo ?? null, props.correlationId ?? null, props.headers ?? null];
      while (tail.length > 0 && tail.at(-1) === null) tail.pop();
      entry.push(...tail);
    }
    const bytes = encodeCopy(entry);
    return new Message(new Slab(bytes), 1, bytes.length, entry.length, exchange, key); // a fixarray header: 1 byte
  }

  /** The fields, for the rare reply that is a map (queue.get): body and headers stay bytes. */
  fields(): { exchange: string; key: string; body: Raw; replyTo?: string; correlationId?: string; headers?: Raw } {
    const header = this.count < 16 ? [0x90 | this.count] : [0xdc, this.count >> 8, this.count & 0xff];
    const bytes = new Uint8Array(header.length + this.size);
    bytes.set(header);
    bytes.set(this.slab.bytes.subarray(this.start, this.end), header.length);
    const [, , body, replyTo, correlationId, headers] = decoder.decode(bytes, ENTRY_PAYLOADS, true) as [unknown, unknown, Raw, string | null, string | null, Raw | null];
    const out: ReturnType<Message["fields"]> = { exchange: this.exchange, key: this.key, body };
    if (replyTo != null) out.replyTo = replyTo;
    if (correlationId != null) out.correlationId = correlationId;
    if (headers != null) out.headers = headers;
    return out;
  }
}

const decoder = new Decoder();
const ENTRY_PAYLOADS = { items: { 2: true, 5: true } } as const;

/** Bytes a message costs besides its slab: the Message object and its places in queues and sessions. */
export const MESSAGE_OVERHEAD_BYTES = 96;

/**
 * Memory cost of a value, for the broker's byte bound: exact for a payload kept as bytes (stored
 * values); a rough walk for anything decoded. Iterative, so a deep value cannot overflow the stack
 * (the decoder bounds depth too).
 */
export function approximateBytes(root: unknown): number {
  if (root instanceof Raw) return root.bytes.length;
  if (typeof root === "string") return root.length + 16;
  let bytes = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") bytes += v.length + 16;
    else if (v instanceof Uint8Array) bytes += v.byteLength + 16;
    else if (v instanceof Raw) bytes += v.bytes.length;
    else if (Array.isArray(v)) {
      bytes += 16;
      for (const x of v) stack.push(x);
    } else if (v !== null && typeof v === "object") {
      bytes += 16;
      for (const key in v) {
        bytes += key.length;
        stack.push((v as Record<string, unknown>)[key]);
      }
    } else bytes += 8;
  }
  return bytes;
}
