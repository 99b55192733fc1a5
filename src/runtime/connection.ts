// One peer connection, on either side: frames in (decoder → envelope → reply or handler) and out
// (coalesced per event-loop turn, bounded, honouring drain), plus typed requests with timeouts.
// Nothing is ever sent to the peer larger than the frameBytesMax it announced in hello.

import type { Socket } from "bun";
import type { Envelope } from "../../protocols/core.ts";
import type { CallName, PayloadPlan, Protocol, ReplyOf, RequestOf, SendName } from "../../protocols/protocol.ts";
import { SchemaError } from "../../protocols/schema.ts";
import { asPeerError, PeerError, quote } from "../errors.ts";
import { limits } from "../limits.ts";
import { decodeBody, encodeBody } from "../wire/codec.ts";
import { FrameDecoder } from "../wire/frame_decoder.ts";
import { OutboundBuffer } from "../wire/outbound_buffer.ts";
import { copyRange } from "../wire/msgpack.ts";
import type { Logger } from "./log.ts";
import type { OutboundLedger } from "./outbound_ledger.ts";

export interface PeerInfo {
  node: string;
  role: string;
  version: number;
  /** Protocols the peer serves (from its hello reply; empty for a peer that connected to us). */
  serves: readonly string[];
}

/** Called for every inbound message that is not a reply; `frameBytes` is the body's size. */
export type Dispatch = (message: Envelope, connection: Connection, frameBytes: number) => void;

export interface ConnectionOptions {
  frameBytesMax: number;
  /** Payload fields kept undecoded in every inbound message (a broker's bodies). */
  payloads?: PayloadPlan;
  /** Decode extension values and integers past 2^53 instead of refusing them (a client's inbound). */
  lenient?: boolean;
  outboundBytesMax: number;
  pendingRequestsMax: number;
  log: Logger;
  dispatch: Dispatch;
  onClose: (connection: Connection, reason: PeerError | null) => void;
  /** Called when outbound bytes fall below the high-water mark after having been above it. */
  onWritable?: (connection: Connection) => void;
  /** The node's outbound bytes across all its connections (a server's); none: only this connection's bound. */
  ledger?: OutboundLedger;
  /** Hand-written paths for hot ops (HandlerTable.dispatchFast); false: decode the frame. */
  fast?: (body: Uint8Array, connection: Connection, frameBytes: number) => boolean;
}

interface Pending {
  resolve: (reply: Envelope) => void;
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
  /** The largest frame body the peer accepts (its hello said so; the protocol default until then). */
  peerFrameBytesMax: number = limits.frameBytesMax;
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
  /** Inbound bytes not yet fed to the decoder, held while this connection's replies drain (copies). */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private readingPaused = false;
  private turnScheduled = false;

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
  /** True while the peer is reading slower than we write, or the node as a whole holds too much: producers hold back. */
  get congested(): boolean {
    return this.out.length > limits.outboundBytesHighWater || (this.options.ledger?.over ?? false);
  }
  /** Whether we stopped reading this peer (its replies are draining): its silence is ours, not its. */
  get readingHeld(): boolean {
    return this.readingPaused;
  }
  get pendingRequests(): number {
    return this.pending.size;
  }

  onClosed(listener: (reason: PeerError | null) => void): void {
    if (this.state === "closed") listener(this.closeReason);
    else this.closeListeners.push(listener);
  }

  // ---- inbound -------------------------------------------------------------------------------

  /**
   * Feed bytes from the socket. Never throws: bad input becomes an error frame and maybe a close.
   * Backpressure: while our replies to this peer pile up (past the high-water mark, or the node's
   * ledger is over its bound), the rest is held and the socket paused, so a peer that pipelines
   * requests and reads slowly gets TCP backpressure instead of the node encoding its backlog.
   */
  receive(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastInboundMs = Date.now();
    if (this.held.length > 0) return this.hold(copyRange(chunk));
    this.feed(chunk, false);
  }

  private feed(chunk: Uint8Array, owned: boolean): boolean {
    let taken: number;
    // Fairness: a connection whose requests produce big replies yields after a turn's worth, so
    // the node reads everyone else (and their pings) between its big requests.
    const outAtStart = this.out.length;
    try {
      taken = this.decoder.feed(chunk, (body) => {
        this.receiveBody(body);
        return !this.congested && this.out.length - outAtStart < limits.replyBytesPerTurnMax;
      });
    } catch (err) {
      // Only framing errors escape the sink: the stream is out of sync, so close.
      this.close(asPeerError(err));
      return false;
    }
    if (taken === chunk.length) return true;
    const rest = chunk.subarray(taken);
    this.hold(owned ? rest : copyRange(rest), true);
    return false;
  }

  private hold(bytes: Uint8Array, first = false): void {
    if (first) this.held.unshift(bytes);
    else this.held.push(bytes);
    this.heldBytes += bytes.length;
    if (!this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
      this.options.ledger?.wait(() => this.readHeld());
    }
    if (!this.congested) this.readNextTurn(); // it only used up its turn
    // The socket is paused; a peer whose already-sent bytes alone pass this bound is flooding us.
    if (this.heldBytes > limits.inboundHeldBytesMax) this.close(new PeerError("SLOW_CONSUMER", `${this.heldBytes} bytes of requests held while replies could not be sent`));
  }

  private readNextTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      this.readHeld();
    });
  }

  /** Replies drained (or a new turn began): go on with what was held, then read the socket again. */
  private readHeld(): void {
    while (this.held.length > 0 && !this.congested && this.state === "open") {
      const chunk = this.held.shift()!;
      this.heldBytes -= chunk.length;
      if (!this.feed(chunk, true)) return;
    }
    if (this.held.length > 0 || this.state !== "open") {
      if (this.state === "open" && this.options.ledger?.over) this.options.ledger.wait(() => this.readHeld());
      return;
    }
    if (this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
  }

  private receiveBody(body: Uint8Array): void {
    if (this.state !== "open") return;
    if (this.peer !== null && this.options.fast !== undefined) {
      try {
        if (this.options.fast(body, this, body.length)) return;
      } catch (err) {
        // A fast path throws only what its op throws (a refused publish); one-way, so no `re`.
        this.reportError(asPeerError(err));
        return;
      }
    }
    let message: Envelope;
    try {
      message = decodeBody(body, this.options.payloads, this.options.lenient);
    } catch (err) {
      this.reportError(asPeerError(err));
      return;
    }
    if (message.re !== undefined && (message.op === "ok" || message.op === "error")) {
      this.settle(message);
      return;
    }
    try {
      this.options.dispatch(message, this, body.length);
    } catch (err) {
      this.failRequest(message, err);
    }
  }

  /** Reply to a request with an error, or report the error of a one-way message without `re`. */
  failRequest(message: Envelope, err: unknown): void {
    const error = asPeerError(err);
    error.re ??= message.id;
    if (error.name === "INTERNAL") this.options.log.error("handler-failed", { op: message.op, error: error.message });
    this.reportError(error);
  }

  private reportError(error: PeerError): void {
    if (this.state === "closed") return;
    if (error.closes) this.close(error);
    else this.sendBody(encodeBody(error.toWire()), true);
  }

  private settle(reply: Envelope): void {
    const waiting = this.pending.get(reply.re!);
    if (waiting === undefined) return; // late reply after a timeout: nothing waits for it
    this.pending.delete(reply.re!);
    clearTimeout(waiting.timer);
    if (reply.op === "ok") waiting.resolve(reply);
    else waiting.reject(PeerError.fromWire(reply));
  }

  // ---- outbound: typed -----------------------------------------------------------------------

  /** Send a request of `protocol` and wait for its reply, checked against the protocol's reply schema. */
  async call<P extends Protocol, K extends CallName<P>>(protocol: P, op: K, args: RequestOf<P, K>, timeoutMs: number = limits.requestTimeoutMs): Promise<ReplyOf<P, K>> {
    const reply = await this.request(op, args as object, timeoutMs);
    try {
      return protocol.ops[op]!.reply!.check(reply) as ReplyOf<P, K>;
    } catch (err) {
      if (err instanceof SchemaError) throw new PeerError("INTERNAL", `the peer's reply to ${op} does not follow the ${protocol.name} protocol: ${err.message}`);
      throw err;
    }
  }

  /** Send a one-way message of `protocol`. */
  send<P extends Protocol, K extends SendName<P>>(_protocol: P, op: K, args: RequestOf<P, K>): void {
    this.sendMessage({ op, ...(args as object) }); // op first: peekOp finds it at once
  }

  // ---- outbound: untyped (the runtime's own plumbing) ----------------------------------------

  /** Queue a message. Written at the end of this event-loop turn. */
  sendMessage(message: object): void {
    if (this.state === "closed") return;
    this.sendBody(encodeBody(message));
  }

  /**
   * Queue an already-encoded body without encoding it again: fanout encodes a message once and
   * sends the same bytes to every subscriber. Larger than the peer accepts: TOO_LARGE_FOR_PEER,
   * and nothing is sent.
   */
  sendBody(body: Uint8Array, control = false): void {
    if (this.state === "closed") return;
    if (body.length > this.peerFrameBytesMax) {
      throw new PeerError("TOO_LARGE_FOR_PEER", `a frame of ${body.length} bytes exceeds the ${this.peerFrameBytesMax} bytes the peer accepts`);
    }
    try {
      this.out.appendFrame(body, control);
    } catch (err) {
      this.close(asPeerError(err));
      return;
    }
    this.options.ledger?.add(4 + body.length);
    if (!this.wasAboveHighWater && this.out.length > limits.outboundBytesHighWater) this.wasAboveHighWater = true;
    this.scheduleFlush();
  }

  /** Reply ok to a request; a reply larger than the peer accepts becomes REPLY_TOO_LARGE (nothing else changes). */
  replyOk(re: number, fields?: object): void {
    const body = encodeBody(fields === undefined ? { op: "ok", re } : { op: "ok", re, ...fields });
    if (body.length <= this.peerFrameBytesMax) return this.sendBody(body);
    const size = body.length;
    this.reportError(new PeerError("REPLY_TOO_LARGE", `the reply is ${size} bytes; this connection accepts frames of at most ${this.peerFrameBytesMax}: ask for less`, { re }));
  }

  /** Send a request and wait for its raw reply. Rejects with TIMEOUT, CONNECTION_LOST or the peer's error. */
  request(op: string, args: object, timeoutMs: number = limits.requestTimeoutMs): Promise<Envelope> {
    if (this.state !== "open") return Promise.reject(new PeerError("CONNECTION_LOST", "connection is closed"));
    if (this.pending.size >= this.options.pendingRequestsMax) {
      return Promise.reject(new PeerError("TOO_MANY_PENDING", `${this.pending.size} requests already await replies`));
    }
    const id = this.nextRequestId++;
    return new Promise<Envelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PeerError("TIMEOUT", `no reply to ${quote(op)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.sendMessage({ op, id, ...args });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(asPeerError(err));
      }
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
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
    this.options.ledger?.release(written);
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
    // Next turn, not now: resuming from here (a microtask after each flush) would chain every held
    // request into one turn and starve everyone else.
    if (this.readingPaused && !this.congested) this.readNextTurn();
  }

  // ---- closing -------------------------------------------------------------------------------

  /**
   * Close the connection. With a reason, the peer first gets it as an error frame: for a slow
   * consumer the frames it has not begun to receive are dropped so the error is next in line.
   * Buffered bytes are flushed for up to closeFlushMs; then the socket is cut.
   */
  close(reason: PeerError | null = null): void {
    if (this.state !== "open") return;
    this.state = "closing";
    this.closeReason = reason;
    if (reason !== null) {
      this.options.log.debug("closing", { peer: this.peer?.node ?? this.remote, reason: reason.name, message: reason.message });
      if (reason.name === "SLOW_CONSUMER") {
        const droppedBytes = this.out.dropUnbegun();
        this.options.ledger?.release(droppedBytes);
        this.options.log.warn("slow-consumer", { peer: this.peer?.node ?? this.remote, droppedBytes, flushMs: limits.closeFlushMs });
      }
      const errorFrame = encodeBody(reason.toWire());
      this.out.appendFrame(errorFrame, true);
      this.options.ledger?.add(4 + errorFrame.length);
    }
    this.failPending(reason ?? new PeerError("CONNECTION_LOST", "connection closed locally"));
    if (this.out.length === 0) {
      this.socket.end();
      return;
    }
    this.flush();
    if (this.state === "closing") setTimeout(() => this.socket.terminate(), limits.closeFlushMs).unref?.();
  }

  /** The peer said hello: from now on it gets the node's full limits instead of a stranger's. */
  admit(frameBytesMax: number, outboundBytesMax: number): void {
    this.decoder.frameBytesMax = frameBytesMax;
    this.out.bytesMax = outboundBytesMax;
  }

  /** Fail every pending request with `reason` itself (a refusal the peer sent), then close quietly. */
  abort(reason: PeerError): void {
    for (const waiting of this.pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(reason);
    }
    this.pending.clear();
    this.close(null);
  }

  /** Called from the socket's close handler (peer closed, we closed, or the socket failed). */
  handleSocketClosed(reason: PeerError | null = null): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeReason ??= reason;
    this.options.ledger?.release(this.out.length); // what was never written leaves with the connection
    this.held = [];
    this.heldBytes = 0;
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
