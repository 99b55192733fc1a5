// A broker client's hand-written path for deliver.batch, the frame it receives most: entries go
// straight to Delivery objects, each body and headers decoded once from where they lie (leniently:
// a payload is other clients' data). Anything unusual returns undefined and the generic path
// decodes the frame against the protocol table. test/broker/fast_paths.test.ts holds the two to
// the same results.

import { limits } from "../limits.ts";
import { Decoder, MalformedError, Reader } from "../wire/msgpack.ts";

export interface Delivery {
  tag: string;
  /** The delivery number: meaningful only on the connection it came on (see `connection`). */
  delivery: number;
  /** Which of this client's connections it came on: an ack or nack on a later one is never sent. */
  connection: number;
  queue: string;
  exchange: string;
  key: string;
  body: unknown;
  redelivered: boolean;
  replyTo?: string;
  correlationId?: string;
  headers?: Record<string, unknown>;
}

const payloads = new Decoder();

/** {op: "deliver.batch", tag, queue, messages: [[delivery, redelivered, exchange, key, body, replyTo?, correlationId?, headers?], …]} */
export function parseDeliverBatch(body: Uint8Array, connection: number): { tag: string; deliveries: Delivery[] } | undefined {
  try {
    const r = new Reader(body);
    let pairs = r.mapHeader();
    if (pairs < 4 || r.string(2) !== "op" || r.string(13) !== "deliver.batch") return undefined;
    let tag: string | undefined;
    let queue: string | undefined;
    let entries: Omit<Delivery, "tag" | "queue">[] | undefined;
    for (pairs--; pairs > 0; pairs--) {
      const key = r.string(limits.nameCharsMax);
      if (key === "tag") tag = r.string(limits.nameCharsMax);
      else if (key === "queue") queue = r.string(limits.nameCharsMax);
      else if (key === "messages") entries = parseEntries(r, body, connection);
      else if (key === undefined || key === "op" || key === "id" || key === "re") return undefined; // the generic path judges these
      else r.skip();
      if (key === "tag" ? tag === undefined || tag === "" : key === "queue" ? queue === undefined || queue === "" : key === "messages" && entries === undefined) return undefined;
    }
    if (tag === undefined || queue === undefined || entries === undefined || !r.done) return undefined;
    const deliveries = entries as Delivery[];
    for (const d of deliveries) {
      d.tag = tag;
      d.queue = queue;
    }
    return { tag, deliveries };
  } catch (err) {
    if (err instanceof MalformedError) return undefined;
    throw err;
  }
}

function parseEntries(r: Reader, body: Uint8Array, connection: number): Omit<Delivery, "tag" | "queue">[] | undefined {
  const n = r.arrayHeader();
  if (n < 1 || n > limits.batchMessagesMax) return undefined;
  const out: Omit<Delivery, "tag" | "queue">[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const count = r.arrayHeader();
    if (count < 5 || count > 8) return undefined;
    const delivery = r.uint();
    const redelivered = r.bool();
    const exchange = r.nil() ? "" : r.string(limits.nameCharsMax);
    const key = r.string(limits.nameCharsMax);
    if (delivery < 1 || redelivered === undefined || exchange === undefined || key === undefined || r.peek() === 0xc0) return undefined;
    const bodyStart = r.pos;
    r.skip();
    const d: Omit<Delivery, "tag" | "queue"> = { delivery, connection, exchange, key, body: payloads.decodeAt(body, bodyStart, r.pos, true, r.text), redelivered };
    if (count >= 6 && !r.nil()) {
      const replyTo = r.string(limits.nameCharsMax);
      if (replyTo === undefined) return undefined;
      d.replyTo = replyTo;
    }
    if (count >= 7 && !r.nil()) {
      const correlationId = r.string(limits.correlationIdCharsMax, false); // unique: not worth interning
      if (correlationId === undefined) return undefined;
      d.correlationId = correlationId;
    }
    if (count >= 8 && !r.nil()) {
      const b = r.peek();
      if ((b & 0xf0) !== 0x80 && b !== 0xde && b !== 0xdf) return undefined;
      const start = r.pos;
      r.skip();
      d.headers = payloads.decodeAt(body, start, r.pos, true, r.text) as Record<string, unknown>;
    }
    out[i] = d;
  }
  return out;
}
