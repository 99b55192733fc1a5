// Per-connection outbound bytes: frames are appended (copied) into one growable buffer and written
// in one syscall per event-loop turn. What the socket does not take stays here until `drain`.

import { PeerError } from "../errors.ts";

const INITIAL_BYTES = 16 * 1024;

export class OutboundBuffer {
  private bytes = new Uint8Array(INITIAL_BYTES);
  private start = 0;
  private end = 0;

  constructor(private readonly bytesMax: number) {}

  get length(): number {
    return this.end - this.start;
  }

  /** Append one frame: 4-byte length + body. SLOW_CONSUMER if that would pass bytesMax. */
  appendFrame(body: Uint8Array): void {
    const need = 4 + body.length;
    if (this.length + need > this.bytesMax) {
      throw new PeerError("SLOW_CONSUMER", `outbound buffer would exceed ${this.bytesMax} bytes`);
    }
    this.reserve(need);
    const at = this.end;
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
      // Give back memory after a burst instead of holding the high-water mark forever.
      if (this.bytes.length > 1024 * 1024) this.bytes = new Uint8Array(INITIAL_BYTES);
    }
  }

  private reserve(need: number): void {
    if (this.end + need <= this.bytes.length) return;
    const live = this.length;
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
  }
}
