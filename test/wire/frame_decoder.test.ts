// Goal: the decoder yields exactly the frames that were encoded, whatever the chunking, and rejects
// an oversized length before buffering a body. Method: encode random frames, feed them in random
// splits (fast-check), one byte at a time, and all coalesced; compare the sequences.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { PeerError } from "../../src/errors.ts";
import { FrameDecoder } from "../../src/wire/frame_decoder.ts";

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function decodeAll(decoder: FrameDecoder, chunks: Uint8Array[]): Uint8Array[] {
  const got: Uint8Array[] = [];
  for (const chunk of chunks) decoder.feed(chunk, (body) => void got.push(new Uint8Array(body)));
  return got;
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  chunks.push(bytes.subarray(prev));
  return chunks;
}

const bodies = fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 0, maxLength: 20 });

describe("FrameDecoder", () => {
  test("one byte at a time yields every frame in order", () => {
    fc.assert(
      fc.property(bodies, (list) => {
        const stream = concat(list.map(frame));
        const chunks = [...stream].map((b) => new Uint8Array([b]));
        expect(decodeAll(new FrameDecoder(1024), chunks)).toEqual(list);
      }),
      { numRuns: 200 },
    );
  });

  test("random splits yield every frame in order", () => {
    fc.assert(
      fc.property(bodies, fc.array(fc.nat(), { maxLength: 40 }), (list, cuts) => {
        const stream = concat(list.map(frame));
        expect(decodeAll(new FrameDecoder(1024), splitAt(stream, cuts))).toEqual(list);
      }),
      { numRuns: 500 },
    );
  });

  test("many frames coalesced in one chunk", () => {
    const list = Array.from({ length: 1000 }, (_, i) => new Uint8Array([i & 0xff, (i >> 8) & 0xff, 7]));
    const got = decodeAll(new FrameDecoder(16), [concat(list.map(frame))]);
    expect(got).toEqual(list);
  });

  test("a zero-length body is a frame (the codec rejects it later)", () => {
    expect(decodeAll(new FrameDecoder(16), [frame(new Uint8Array(0))])).toEqual([new Uint8Array(0)]);
  });

  test("a frame exactly at frameBytesMax passes; one byte more is rejected", () => {
    expect(decodeAll(new FrameDecoder(8), [frame(new Uint8Array(8))])).toHaveLength(1);
    expect(() => decodeAll(new FrameDecoder(8), [frame(new Uint8Array(9))])).toThrow(PeerError);
  });

  test("an oversized length prefix is rejected from the header alone, before any body byte", () => {
    const decoder = new FrameDecoder(1024 * 1024);
    let thrown: unknown;
    try {
      decoder.feed(new Uint8Array([0xff, 0xff, 0xff, 0xff]), () => {});
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PeerError);
    expect((thrown as PeerError).name).toBe("FRAME_TOO_LARGE");
    expect(decoder.bufferedBytes).toBeLessThanOrEqual(4);
  });

  test("an oversized header split over chunks is rejected when its 4th byte arrives", () => {
    const decoder = new FrameDecoder(100);
    decoder.feed(new Uint8Array([0x00, 0x01]), () => {});
    expect(() => decoder.feed(new Uint8Array([0x00]), () => {})).not.toThrow();
    expect(() => decoder.feed(new Uint8Array([0x00]), () => {})).toThrow(/exceeds frameBytesMax/);
  });

  test("frames before an oversized one are still delivered, and the decoder then refuses input", () => {
    const good = new Uint8Array([1, 2, 3]);
    const stream = concat([frame(good), frame(new Uint8Array(50))]);
    const got: Uint8Array[] = [];
    const decoder = new FrameDecoder(10);
    expect(() => decoder.feed(stream, (b) => void got.push(new Uint8Array(b)))).toThrow();
    expect(got).toEqual([good]);
    expect(() => decoder.feed(frame(good), () => {})).toThrow();
  });

  test("a sink that returns false stops the feed after that frame; the rest, fed again, yields the others in order", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 20 }), (bodies, chunkBytes, stopEvery) => {
        const stream = concat(bodies.map(frame));
        const decoder = new FrameDecoder(1 << 20);
        const got: Uint8Array[] = [];
        // Chunks of a few bytes (frames cross them); every stopEvery-th frame asks to stop.
        let pending: Uint8Array[] = [];
        for (let at = 0; at < stream.length; at += chunkBytes) pending.push(stream.subarray(at, at + chunkBytes));
        while (pending.length > 0) {
          const chunk = pending.shift()!;
          const taken = decoder.feed(chunk, (body) => {
            got.push(new Uint8Array(body));
            return got.length % stopEvery !== 0;
          });
          if (taken < chunk.length) pending = [chunk.subarray(taken), ...pending];
        }
        expect(got).toEqual(bodies);
      }),
      { numRuns: 500 },
    );
  });

    test("fuzz: arbitrary bytes either decode or throw PeerError, never anything else", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const decoder = new FrameDecoder(32);
        try {
          decodeAll(decoder, chunks);
        } catch (err) {
          expect(err).toBeInstanceOf(PeerError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
