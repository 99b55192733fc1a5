// Splits a TCP byte stream into frame bodies: a 4-byte big-endian length N, then N bytes.
// Knows nothing of sockets: it is fed chunks of any size and hands each complete body to a sink.
// The length is checked against frameBytesMax before a single body byte is buffered.

import { PeerError } from "../errors.ts";

export const FRAME_HEADER_BYTES = 4;

/** Receives each body; returning false stops the feed after it (the caller keeps the rest). */
export type FrameSink = (body: Uint8Array) => boolean | void;

export class FrameDecoder {
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerHave = 0;
  /** Body being assembled across chunks; null while reading a header. */
  private body: Uint8Array | null = null;
  private bodyHave = 0;
  private failed = false;
  /** The sink asked to stop after the frame continuePartial completed. */
  private stopped = false;

  /** Raised once the peer is known (after hello): a stranger gets a small limit, a peer the full one. */
  constructor(public frameBytesMax: number) {}

  /** Bytes held for a frame not yet complete (for tests and stats). */
  get bufferedBytes(): number {
    return this.headerHave + this.bodyHave;
  }

  /**
   * Feed one chunk. Each complete body goes to `sink`; a body is a view valid only during the call
   * (copy it to keep it). Returns how many bytes of the chunk were taken: all of them, unless the
   * sink returned false (backpressure), in which case feed the rest later. Throws FRAME_TOO_LARGE
   * after delivering the frames before the bad one; after that the stream is out of sync and the
   * decoder refuses further input.
   */
  feed(chunk: Uint8Array, sink: FrameSink): number {
    if (this.failed) throw new PeerError("FRAME_TOO_LARGE", "decoder is out of sync after an oversized frame");
    let offset = 0;
    if (this.headerHave > 0 || this.body !== null) {
      offset = this.continuePartial(chunk, sink);
      if (offset < 0) return chunk.length;
      if (this.stopped) {
        this.stopped = false;
        return offset;
      }
    }
    // Fast path: whole frames straight out of the chunk, no copying.
    const end = chunk.length;
    while (end - offset >= FRAME_HEADER_BYTES) {
      const size = readLength(chunk, offset);
      this.checkSize(size);
      if (end - offset - FRAME_HEADER_BYTES < size) break;
      const start = offset + FRAME_HEADER_BYTES;
      offset = start + size;
      if (sink(chunk.subarray(start, offset)) === false) return offset;
    }
    if (offset < end) this.stash(chunk, offset);
    return end;
  }

  /** Completes a frame begun in earlier chunks; returns the offset reached, or -1 if the chunk ran out. */
  private continuePartial(chunk: Uint8Array, sink: FrameSink): number {
    let offset = 0;
    if (this.body === null) {
      const take = Math.min(FRAME_HEADER_BYTES - this.headerHave, chunk.length);
      this.header.set(chunk.subarray(0, take), this.headerHave);
      this.headerHave += take;
      offset = take;
      if (this.headerHave < FRAME_HEADER_BYTES) return -1;
      const size = readLength(this.header, 0);
      this.checkSize(size);
      this.body = new Uint8Array(size);
      this.bodyHave = 0;
    }
    const body = this.body;
    const take = Math.min(body.length - this.bodyHave, chunk.length - offset);
    body.set(chunk.subarray(offset, offset + take), this.bodyHave);
    this.bodyHave += take;
    offset += take;
    if (this.bodyHave < body.length) return -1;
    this.body = null;
    this.bodyHave = 0;
    this.headerHave = 0;
    if (sink(body) === false) this.stopped = true;
    return offset;
  }

  /** Keeps the tail of a chunk that holds less than one frame. */
  private stash(chunk: Uint8Array, offset: number): void {
    const rest = chunk.length - offset;
    if (rest < FRAME_HEADER_BYTES) {
      this.header.set(chunk.subarray(offset), 0);
      this.headerHave = rest;
      return;
    }
    const size = readLength(chunk, offset);
    this.body = new Uint8Array(size);
    this.body.set(chunk.subarray(offset + FRAME_HEADER_BYTES), 0);
    this.bodyHave = rest - FRAME_HEADER_BYTES;
    this.headerHave = FRAME_HEADER_BYTES;
  }

  private checkSize(size: number): void {
    if (size > this.frameBytesMax) {
      this.failed = true;
      throw new PeerError("FRAME_TOO_LARGE", `frame of ${size} bytes exceeds frameBytesMax ${this.frameBytesMax}`);
    }
  }
}

function readLength(bytes: Uint8Array, offset: number): number {
  // Unsigned: `>>> 0` keeps 0xFFFFFFFF positive.
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}
