// The broker's hand-written path for publish.batch, its hottest frame: it reads the envelope and
// each entry's exchange and key (to route), checks the other fields' kinds and bounds as the
// protocol table does, skips over the body and headers (checked well-formed, never decoded), and
// keeps every entry as a range of one copy of the frame. Anything unusual — an unknown shape, a
// bad field, a malformed body — returns undefined, and the generic path decodes the frame and
// answers with the table's exact error. test/broker/fast_paths.test.ts holds the two to the same
// results.

import { limits } from "../limits.ts";
import { copyRange, MalformedError, Reader } from "../wire/msgpack.ts";
import { Message, Slab } from "./message.ts";

interface Entry {
  start: number;
  end: number;
  count: number;
  exchange: string;
  key: string;
}

/** {op: "publish.batch", id?, messages: [[exchange, key, body, replyTo?, correlationId?, headers?], …]} */
export function parsePublishBatch(body: Uint8Array): { id: number | undefined; messages: Message[] } | undefined {
  try {
    const r = new Reader(body);
    let op: string | undefined;
    let id: number | undefined;
    let entries: Entry[] | undefined;
    for (let pairs = r.mapHeader(); pairs > 0; pairs--) {
      const key = r.string(limits.nameCharsMax);
      if (key === undefined && r.uint() >= 0) {
        r.skip(); // an integer key: a field this version does not know
        continue;
      }
      if (key === "op") {
        op = r.string(limits.nameCharsMax);
        if (op !== "publish.batch") return undefined;
      } else if (key === "id") {
        if (r.nil()) continue;
        id = r.uint();
        if (id < 0) return undefined;
      } else if (key === "re") {
        if (!r.nil() && r.uint() < 0) return undefined; // the envelope rule, as checkEnvelope applies it
      } else if (key === "messages") {
        entries = parseEntries(r);
        if (entries === undefined) return undefined;
      } else if (key === undefined) return undefined;
      else r.skip(); // a field this version does not know: ignored, as the table's objects ignore it
    }
    if (op === undefined || entries === undefined || !r.done) return undefined;
    const slab = new Slab(copyRange(body)); // one copy of the frame, shared by its messages
    return { id, messages: entries.map((e) => new Message(slab, e.start, e.end, e.count, e.exchange, e.key)) };
  } catch (err) {
    if (err instanceof MalformedError) return undefined; // the generic path says MALFORMED_FRAME
    throw err;
  }
}

function parseEntries(r: Reader): Entry[] | undefined {
  const n = r.arrayHeader();
  if (n < 1 || n > limits.batchMessagesMax) return undefined;
  const entries: Entry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const count = r.arrayHeader();
    if (count < 3 || count > 6) return undefined;
    const start = r.pos;
    const exchange = r.nil() ? "" : r.string(limits.nameCharsMax);
    const key = r.string(limits.nameCharsMax);
    if (exchange === undefined || key === undefined || r.peek() === 0xc0) return undefined; // a body is never nil
    r.skip();
    // replyTo and correlationId are only forwarded: checked, not made into strings.
    if (count >= 4 && !r.nil() && !r.stringOk(limits.nameCharsMax)) return undefined;
    if (count >= 5 && !r.nil() && !r.stringOk(limits.correlationIdCharsMax)) return undefined;
    if (count >= 6 && !r.nil()) {
      const b = r.peek(); // headers: a map, kept as bytes
      if ((b & 0xf0) !== 0x80 && b !== 0xde && b !== 0xdf) return undefined;
      r.skip();
    }
    entries[i] = { start, end: r.pos, count, exchange, key };
  }
  return entries;
}
