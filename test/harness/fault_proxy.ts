// A TCP proxy that injects network faults between a client and a node, both on loopback:
// latency (per chunk, order kept, a close after the bytes sent before it), dropping every connection, cutting a connection in the middle
// of the next chunk (so the receiver sees half a frame, then EOF), and partitions (nothing is
// forwarded either way, as on a dead link, until heal(); held bytes then flow, as TCP would
// deliver them after the link returned, unless the partition was declared lossy). A side that
// closes during a partition is not seen closing by the other side until heal: no FIN crosses a
// partition either.

import type { Socket, TCPSocketListener } from "bun";

type Side = "toUpstream" | "toClient";

interface Pipe {
  client: Socket<PipeRef>;
  upstream: Socket<PipeRef> | null;
  /** Bytes waiting to be written on each side (upstream not connected yet, backpressure, partition). */
  held: Record<Side, Uint8Array[]>;
  closed: boolean;
  /** One side closed during a partition: the other learns of it at heal(). */
  closing: boolean;
}
interface PipeRef {
  pipe: Pipe;
  side: Side;
}

export class FaultProxy {
  delayMs = 0;
  /** Bytes forwarded in each direction (to assert that traffic really crossed the proxy). */
  readonly forwarded: Record<Side, number> = { toUpstream: 0, toClient: 0 };
  private partitioned = false;
  private lossy = false;
  private cutNext: Side | null = null;
  private readonly pipes = new Set<Pipe>();
  private listener!: TCPSocketListener<PipeRef>;

  private constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {}

  static start(upstreamHost: string, upstreamPort: number): FaultProxy {
    const proxy = new FaultProxy(upstreamHost, upstreamPort);
    proxy.listener = Bun.listen<PipeRef>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (socket) => proxy.accept(socket),
        data: (socket, chunk) => proxy.forward(socket.data.pipe, "toUpstream", chunk),
        drain: (socket) => proxy.flush(socket.data.pipe, "toClient"),
        close: (socket) => proxy.sideClosed(socket.data.pipe),
        error: (socket) => proxy.sideClosed(socket.data.pipe),
      },
    });
    return proxy;
  }

  get port(): number {
    return this.listener.port;
  }
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  get connectionCount(): number {
    return this.pipes.size;
  }

  /** Stop forwarding both ways. lossy: discard what is sent meanwhile instead of holding it. */
  partition(options: { lossy?: boolean } = {}): void {
    this.partitioned = true;
    this.lossy = options.lossy ?? false;
  }
  heal(): void {
    this.partitioned = false;
    this.lossy = false;
    for (const pipe of [...this.pipes]) {
      this.flush(pipe, "toUpstream");
      this.flush(pipe, "toClient");
      if (pipe.closing) this.teardown(pipe);
    }
  }
  /** Abruptly close every proxied connection, both sides. */
  dropAll(): void {
    for (const pipe of [...this.pipes]) this.teardown(pipe);
  }
  /** The next chunk travelling in `side` is forwarded half, then both sides are cut. */
  cutMidFrame(side: Side = "toClient"): void {
    this.cutNext = side;
  }
  stop(): void {
    this.dropAll();
    this.listener.stop(true);
  }

  private accept(client: Socket<PipeRef>): void {
    const pipe: Pipe = { client, upstream: null, held: { toUpstream: [], toClient: [] }, closed: false, closing: false };
    client.data = { pipe, side: "toUpstream" };
    this.pipes.add(pipe);
    Bun.connect<PipeRef>({
      hostname: this.upstreamHost,
      port: this.upstreamPort,
      socket: {
        open: (upstream) => {
          upstream.data = { pipe, side: "toClient" };
          pipe.upstream = upstream;
          if (pipe.closed) upstream.terminate();
          else this.flush(pipe, "toUpstream");
        },
        data: (upstream, chunk) => this.forward(upstream.data.pipe, "toClient", chunk),
        drain: (upstream) => this.flush(upstream.data.pipe, "toUpstream"),
        close: (upstream) => this.sideClosed(upstream.data.pipe),
        error: (upstream) => this.sideClosed(upstream.data.pipe),
      },
    }).catch(() => this.teardown(pipe));
  }

  private forward(pipe: Pipe, side: Side, chunk: Uint8Array): void {
    if (pipe.closed) return;
    if (this.partitioned && this.lossy) return;
    const copy = new Uint8Array(chunk);
    if (this.cutNext === side) {
      this.cutNext = null;
      const half = copy.subarray(0, Math.max(1, copy.length >> 1));
      this.target(pipe, side)?.write(half);
      this.forwarded[side] += half.length;
      setTimeout(() => this.teardown(pipe), 20);
      return;
    }
    if (this.delayMs > 0) setTimeout(() => this.enqueue(pipe, side, copy), this.delayMs);
    else this.enqueue(pipe, side, copy);
  }

  private enqueue(pipe: Pipe, side: Side, bytes: Uint8Array): void {
    pipe.held[side].push(bytes);
    this.flush(pipe, side);
  }

  private flush(pipe: Pipe, side: Side): void {
    if (pipe.closed || this.partitioned) return;
    const socket = this.target(pipe, side);
    if (socket === null) return;
    const queue = pipe.held[side];
    while (queue.length > 0) {
      const bytes = queue[0]!;
      const written = socket.write(bytes);
      if (written < 0) return this.teardown(pipe);
      this.forwarded[side] += written;
      if (written < bytes.length) {
        queue[0] = bytes.subarray(written);
        return;
      }
      queue.shift();
    }
  }

  private target(pipe: Pipe, side: Side): Socket<PipeRef> | null {
    return side === "toUpstream" ? pipe.upstream : pipe.client;
  }

  /** One side went away: the other sees it now, or at heal() if a partition is in between. */
  private sideClosed(pipe: Pipe): void {
    if (this.partitioned) pipe.closing = true;
    // With latency, what that side sent just before closing is still on its way: as on TCP, the
    // close reaches the other side after those bytes, not before (they would be lost).
    else if (this.delayMs > 0) setTimeout(() => this.teardown(pipe), this.delayMs);
    else this.teardown(pipe);
  }

  private teardown(pipe: Pipe): void {
    if (pipe.closed) return;
    pipe.closed = true;
    this.pipes.delete(pipe);
    pipe.client.terminate();
    pipe.upstream?.terminate();
  }
}
