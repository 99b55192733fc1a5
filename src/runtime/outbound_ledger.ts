// Every byte a node has queued to send, across all its connections, against one bound. Past it,
// connections stop reading new requests (and a broker stops delivering) until the bytes drain: no
// crowd of clients, each within its own bound, can together make the node hold gigabytes.

export class OutboundLedger {
  bytes = 0;
  private readonly waiting = new Set<() => void>();

  /** Called whenever the node goes back under its bound (e.g. a broker resumes its deliveries). */
  onRelief: (() => void) | null = null;

  constructor(readonly bytesMax: number) {}

  get over(): boolean {
    return this.bytes > this.bytesMax;
  }

  add(bytes: number): void {
    this.bytes += bytes;
  }

  /** Bytes left the node (written, or dropped with their connection); under the bound again, the waiting go on. */
  release(bytes: number): void {
    const wasOver = this.over;
    this.bytes -= bytes;
    if (wasOver && !this.over) {
      const woken = [...this.waiting];
      this.waiting.clear();
      for (const wake of woken) wake();
      this.onRelief?.();
    }
  }

  /** Call `wake` once the node is under its bound again. */
  wait(wake: () => void): void {
    this.waiting.add(wake);
  }
}
