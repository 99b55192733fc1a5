// Per-connection outbound bytes: frames are appended (copied) into one growable buffer and written
// in one syscall per event-loop turn. What the socket does not take stays here until `drain`.
// It knows where the frame being written ends, so frames not yet begun can be dropped without
// cutting one in half (a slow consumer gets its SLOW_CONSUMER error as the next whole frame).

import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";

export class OutboundBuffer {
  private bytes = new Uint8Array(limits.outboundBufferInitialBytes);
  private start = 0;
  private end = 0;
  /** The frame that contains `start`: [headFrameStart, headFrameEnd). */
  private headFrameStart = 0;
  private headFrameEnd = 0;

  /** Raised once the peer is known (after hello). */
  constructor(public bytesMax: number) {}

  get length(): number {
    return this.end - this.start;
  }

  /** Append one frame: 4-byte length + body. SLOW_CONSUMER if that would pass bytesMax (unless `force`). */
  appendFrame(body: Uint8Array, force = false): void {
    const need = 4 + body.length;
    if (!force && this.length + need > this.bytesMax) {
      throw new PeerError("SLOW_CONSUMER", `outbound buffer would exceed ${this.bytesMax} bytes`);
    }
    this.reserve(need);
    const at = this.end;
    if (this.start === this.end) {
      this.headFrameStart = at;
      this.headFrameEnd = at + need;
    }
    const n = body.length;
    const b = this.bytes;
    b[at] = n >>> 24;
    b[at + 1] = (n >>> 16) & 0xff;
    b[at + 2] = (n >>> 8) & 0xff;
    b[at + 3] = n & 0xff;
    b.set(body, at + 4);
    this.end = at + need;
  }

  /** Bytes to hand to the socket now (a view; call consume() with what was written). */
  pending(): Uint8Array {
    return this.bytes.subarray(this.start, this.end);
  }

  consume(count: number): void {
    this.start += count;
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
      this.headFrameStart = 0;
      this.headFrameEnd = 0;
      // Give back memory after a burst instead of holding the high-water mark forever.
      if (this.bytes.length > limits.outboundBufferKeepBytes) this.bytes = new Uint8Array(limits.outboundBufferInitialBytes);
      return;
    }
    while (this.headFrameEnd <= this.start) {
      this.headFrameStart = this.headFrameEnd;
      const b = this.bytes;
      const at = this.headFrameEnd;
      this.headFrameEnd = at + 4 + (((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0);
    }
  }

  /** Drop every frame the socket has not begun; the one partly written stays whole. Returns bytes dropped. */
  dropUnbegun(): number {
    const keepEnd = this.start > this.headFrameStart ? this.headFrameEnd : this.start;
    const dropped = this.end - keepEnd;
    this.end = keepEnd;
    if (this.start === this.end) this.consume(0);
    return dropped;
  }

  private reserve(need: number): void {
    if (this.end + need <= this.bytes.length) return;
    const live = this.length;
    const shift = this.start;
    if (live + need <= this.bytes.length && this.start > 0) {
      this.bytes.copyWithin(0, this.start, this.end);
    } else {
      let size = this.bytes.length * 2;
      while (size < live + need) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bytes.subarray(this.start, this.end), 0);
      this.bytes = grown;
    }
    this.start = 0;
    this.end = live;
    this.headFrameStart -= shift;
    this.headFrameEnd -= shift;
  }
}
