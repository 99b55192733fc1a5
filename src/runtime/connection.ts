// One peer connection, on either side: frames in (decoder → envelope → reply or handler) and out
// (coalesced per event-loop turn, bounded, honouring drain), plus correlated requests with timeouts.

import type { Socket } from "bun";
import type { Envelope, ErrorReply, OkReply } from "../../protocols/core.ts";
import { asPeerError, PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { decodeBody, encodeBody } from "../wire/codec.ts";
import { FrameDecoder } from "../wire/frame_decoder.ts";
import { OutboundBuffer } from "../wire/outbound_buffer.ts";
import type { Logger } from "./log.ts";

export interface PeerInfo {
  node: string;
  role: string;
  version: number;
}

/** Called for every inbound message that is not a reply. */
export type Dispatch = (message: Envelope, connection: Connection) => void;

export interface ConnectionOptions {
  frameBytesMax: number;
  outboundBytesMax: number;
  pendingRequestsMax: number;
  log: Logger;
  dispatch: Dispatch;
  onClose: (connection: Connection, reason: PeerError | null) => void;
  /** Called when outbound bytes fall below the high-water mark after having been above it. */
  onWritable?: (connection: Connection) => void;
}

interface Pending {
  resolve: (reply: OkReply) => void;
  reject: (err: PeerError) => void;
  timer: ReturnType<typeof setTimeout>;
}

let connectionSerial = 0;

export class Connection {
  readonly serial = ++connectionSerial;
  /** Set by the handshake; null until hello succeeded. */
  peer: PeerInfo | null = null;
  /** Heartbeat interval agreed in the handshake (0: none). */
  heartbeatMs = 0;
  lastInboundMs = Date.now();
  /** Free slot for the role that owns the connection (e.g. the broker's per-connection state). */
  context: unknown = undefined;

  private readonly decoder: FrameDecoder;
  private readonly out: OutboundBuffer;
  private readonly pending = new Map<number, Pending>();
  private nextRequestId = 1;
  private flushScheduled = false;
  private wasAboveHighWater = false;
  private state: "open" | "closing" | "closed" = "open";
  private closeReason: PeerError | null = null;
  private readonly closeListeners: Array<(reason: PeerError | null) => void> = [];

  constructor(
    private readonly socket: Socket<unknown>,
    private readonly options: ConnectionOptions,
  ) {
    this.decoder = new FrameDecoder(options.frameBytesMax);
    this.out = new OutboundBuffer(options.outboundBytesMax);
  }

  get isOpen(): boolean {
    return this.state === "open";
  }
  get remote(): string {
    return `${this.socket.remoteAddress}`;
  }
  get outboundBytes(): number {
    return this.out.length;
  }
  /** True while the peer is reading slower than we write; producers should hold back. */
  get congested(): boolean {
    return this.out.length > limits.outboundBytesHighWater;
  }
  get pendingRequests(): number {
    return this.pending.size;
  }

  onClosed(listener: (reason: PeerError | null) => void): void {
    if (this.state === "closed") listener(this.closeReason);
    else this.closeListeners.push(listener);
  }

  // ---- inbound -------------------------------------------------------------------------------

  /** Feed bytes from the socket. Never throws: bad input becomes an error frame and maybe a close. */
  receive(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastInboundMs = Date.now();
    try {
      this.decoder.feed(chunk, (body) => this.receiveBody(body));
    } catch (err) {
      // Only framing errors escape the sink: the stream is out of sync, so close.
      this.close(asPeerError(err));
    }
  }

  private receiveBody(body: Uint8Array): void {
    if (this.state !== "open") return;
    let message: Envelope;
    try {
      message = decodeBody(body);
    } catch (err) {
      const error = asPeerError(err);
      if (error.closes) this.close(error);
      else this.send(error.toWire());
      return;
    }
    if (message.re !== undefined && (message.op === "ok" || message.op === "error")) {
      this.settle(message);
      return;
    }
    try {
      this.options.dispatch(message, this);
    } catch (err) {
      this.failRequest(message, err);
    }
  }

  /** Reply to a request with an error, or report the error of a one-way message without `re`. */
  failRequest(message: Envelope, err: unknown): void {
    const error = asPeerError(err);
    if (error.name === "INTERNAL") this.options.log.error("handler-failed", { op: message.op, error: error.message });
    if (this.state === "closed") return;
    if (error.closes) this.close(error);
    else this.send(error.toWire(message.id));
  }

  private settle(reply: Envelope): void {
    const waiting = this.pending.get(reply.re!);
    if (waiting === undefined) return; // late reply after a timeout: nothing waits for it
    this.pending.delete(reply.re!);
    clearTimeout(waiting.timer);
    if (reply.op === "ok") waiting.resolve(reply as OkReply);
    else waiting.reject(PeerError.fromWire(reply as unknown as ErrorReply));
  }

  // ---- outbound ------------------------------------------------------------------------------

  /** Queue a one-way message or reply. Written at the end of this event-loop turn. */
  send(message: object): void {
    if (this.state === "closed") return;
    this.sendEncoded(encodeBody(message));
  }

  /**
   * Queue an already-encoded body (from encodeBody) without encoding again: fanout encodes a
   * message once and sends the same bytes to every subscriber.
   */
  sendEncoded(body: Uint8Array): void {
    if (this.state === "closed") return;
    try {
      this.out.appendFrame(body);
    } catch (err) {
      this.close(asPeerError(err));
      return;
    }
    if (!this.wasAboveHighWater && this.out.length > limits.outboundBytesHighWater) this.wasAboveHighWater = true;
    this.scheduleFlush();
  }

  /** Reply ok to a request. */
  replyOk(re: number, fields?: object): void {
    this.send(fields === undefined ? { op: "ok", re } : { ...fields, op: "ok", re });
  }

  /** Send a request and wait for its reply. Rejects with TIMEOUT, CONNECTION_LOST or the peer's error. */
  request<T extends object = OkReply>(message: { op: string; [field: string]: unknown }, timeoutMs: number = limits.requestTimeoutMs): Promise<T & OkReply> {
    if (this.state !== "open") return Promise.reject(new PeerError("CONNECTION_LOST", "connection is closed"));
    if (this.pending.size >= this.options.pendingRequestsMax) {
      return Promise.reject(new PeerError("TOO_MANY_PENDING", `${this.pending.size} requests already await replies`));
    }
    const id = this.nextRequestId++;
    return new Promise<T & OkReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PeerError("TIMEOUT", `no reply to "${message.op}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (reply: OkReply) => void, reject, timer });
      this.send({ ...message, id });
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Write what the socket takes; the rest waits for drain(). */
  flush(): void {
    if (this.state === "closed" || this.out.length === 0) return;
    const written = this.socket.write(this.out.pending());
    if (written < 0) {
      this.handleSocketClosed(new PeerError("CONNECTION_LOST", "socket closed while writing"));
      return;
    }
    this.out.consume(written);
    if (this.out.length === 0 && this.state === "closing") this.socket.end();
    this.noticeWritable();
  }

  /** The socket can take more bytes. */
  drain(): void {
    this.flush();
  }

  private noticeWritable(): void {
    if (this.wasAboveHighWater && this.out.length <= limits.outboundBytesHighWater) {
      this.wasAboveHighWater = false;
      this.options.onWritable?.(this);
    }
  }

  // ---- closing -------------------------------------------------------------------------------

  /**
   * Close the connection. With a reason, the peer first gets it as an error frame. Buffered bytes
   * are flushed for up to shutdownGraceMs; then the socket is cut.
   */
  close(reason: PeerError | null = null): void {
    if (this.state !== "open") return;
    this.state = "closing";
    this.closeReason = reason;
    if (reason !== null) {
      this.options.log.debug("closing", { peer: this.peer?.node ?? this.remote, reason: reason.name, message: reason.message });
      // The error frame goes out even past the outbound bound: it is small and the last one.
      if (reason.name !== "SLOW_CONSUMER") {
        const body = encodeBody(reason.toWire());
        try {
          this.out.appendFrame(body);
        } catch {
          /* buffer full: the peer will see the close without the reason */
        }
      }
    }
    this.failPending(reason ?? new PeerError("CONNECTION_LOST", "connection closed locally"));
    if (reason?.name === "SLOW_CONSUMER" || this.out.length === 0) {
      this.socket.end();
    } else {
      this.flush();
      if (this.state === "closing") {
        setTimeout(() => this.socket.terminate(), limits.shutdownGraceMs).unref?.();
      }
    }
  }

  /** Called from the socket's close handler (peer closed, we closed, or the socket failed). */
  handleSocketClosed(reason: PeerError | null = null): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeReason ??= reason;
    this.failPending(this.closeReason ?? new PeerError("CONNECTION_LOST", "connection closed by peer"));
    this.options.onClose(this, this.closeReason);
    for (const listener of this.closeListeners.splice(0)) listener(this.closeReason);
  }

  private failPending(reason: PeerError): void {
    if (this.pending.size === 0) return;
    const lost = reason.name === "TIMEOUT" || reason.name === "CONNECTION_LOST" ? reason : new PeerError("CONNECTION_LOST", `connection closed: ${reason.message}`);
    for (const waiting of this.pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(lost);
    }
    this.pending.clear();
  }
}
