// Micro-benchmark of the wire layer: frames/s through the FrameDecoder alone, decoder + msgpack
// decode + envelope check, and the encode path (msgpack + OutboundBuffer). Same process, same run.

import { decodeBody, encodeBody, encodeFrame } from "../src/wire/codec.ts";
import { FrameDecoder } from "../src/wire/frame_decoder.ts";
import { OutboundBuffer } from "../src/wire/outbound_buffer.ts";

export interface WireResult {
  name: string;
  framesPerSec: number;
  mbPerSec: number;
}

const FRAMES = 200_000;
const CHUNK_BYTES = 64 * 1024;

function sampleMessage(i: number): object {
  return { op: "publish", id: i, exchange: "", key: "texts", body: `message ${i}: you are a silly goose and a dimwit, said the filter` };
}

function makeStream(): { chunks: Uint8Array[]; bytes: number } {
  const frames = Array.from({ length: FRAMES }, (_, i) => encodeFrame(sampleMessage(i)));
  const bytes = frames.reduce((n, f) => n + f.length, 0);
  const all = new Uint8Array(bytes);
  let at = 0;
  for (const f of frames) {
    all.set(f, at);
    at += f.length;
  }
  // Cut at fixed offsets that ignore frame boundaries, as TCP does.
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < bytes; off += CHUNK_BYTES) chunks.push(all.subarray(off, Math.min(bytes, off + CHUNK_BYTES)));
  return { chunks, bytes };
}

function time(fn: () => void, rounds = 5): number {
  fn(); // warm-up
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best / 1000;
}

export function runWireBench(): WireResult[] {
  const { chunks, bytes } = makeStream();
  const results: WireResult[] = [];
  const record = (name: string, seconds: number): void => {
    results.push({ name, framesPerSec: FRAMES / seconds, mbPerSec: bytes / seconds / 1e6 });
  };

  let count = 0;
  record("decoder: split frames only", time(() => {
    const decoder = new FrameDecoder(1 << 20);
    count = 0;
    for (const chunk of chunks) decoder.feed(chunk, () => void count++);
  }));
  if (count !== FRAMES) throw new Error(`decoder lost frames: ${count}/${FRAMES}`);

  record("decoder + msgpack decode + envelope check", time(() => {
    const decoder = new FrameDecoder(1 << 20);
    count = 0;
    for (const chunk of chunks) decoder.feed(chunk, (body) => { if (decodeBody(body).op === "publish") count++; });
  }));
  if (count !== FRAMES) throw new Error(`decode lost frames: ${count}/${FRAMES}`);

  const messages = Array.from({ length: FRAMES }, (_, i) => sampleMessage(i));
  record("encode: msgpack + outbound buffer", time(() => {
    const out = new OutboundBuffer(1 << 30);
    for (const m of messages) {
      out.appendFrame(encodeBody(m));
      if (out.length > CHUNK_BYTES) out.consume(out.length);
    }
  }));
  return results;
}

if (import.meta.main) {
  for (const r of runWireBench()) console.log(`${r.name.padEnd(44)} ${(r.framesPerSec / 1e6).toFixed(2)} M frames/s  ${r.mbPerSec.toFixed(0)} MB/s`);
}
