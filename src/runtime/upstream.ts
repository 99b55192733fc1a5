// The connecting side of a node, and the one way every role reaches the node it depends on (a
// worker its coordinator, a slave its broker, a client a broker):
// - an ordered list of addresses to fail over to; after a loss the current one is retried first
//   (only it, for stickyMs, if asked: a worker moves from a coordinator only if it must);
// - the peer must serve the protocol asked for (its hello reply lists what it serves): a worker
//   pointed at a broker fails at once with "127.0.0.1:4800 is a broker, not a coordinator"; a peer
//   whose role may serve it later (a passive backup) is skipped and tried again;
// - a window to find one at start (terminals start in any order) and one after a loss (0: lost at
//   once; Infinity: for ever), with jittered exponential backoff and a log line at a sane rate;
// - hello, heartbeats, and typed calls on whichever connection is current;
// - close() is our own orderly stop: no "disconnected", no "lost".

import type { Socket } from "bun";
import { core, type Envelope, type HelloOk } from "../../protocols/core.ts";
import type { CallName, Protocol, ReplyOf, RequestOf, SendName } from "../../protocols/protocol.ts";
import { asPeerError, PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { parseAddress } from "./address.ts";
import { Connection } from "./connection.ts";
import { dispatchCommon } from "./dispatch_common.ts";
import { Emitter } from "./emitter.ts";
import { HandlerTable } from "./handlers.ts";
import { completeHello, makeHello, type Identity } from "./handshake.ts";
import { startHeartbeat } from "./heartbeat.ts";
import { silentLogger, type Logger } from "./log.ts";

export interface UpstreamOptions {
  /** Where the upstream may be ("host:port"), in failover order. */
  addresses: readonly string[];
  /** The protocol the upstream must serve, e.g. "broker" (core: any node will do). */
  serves: string;
  /** What the upstream is called in messages, e.g. "coordinator" (default: the protocol's name). */
  what?: string;
  /** Roles that do not serve the protocol yet but may later (a passive backup): tried again, not refused. */
  pendingRoles?: readonly string[];
  identity: Identity;
  token?: string;
  heartbeatMs?: number;
  missedHeartbeatsMax?: number;
  frameBytesMax?: number;
  outboundBytesMax?: number;
  pendingRequestsMax?: number;
  /** How long to look for the upstream at start (default limits.firstConnectWindowMs). */
  firstConnectWindowMs?: number;
  /** How long to look again after losing it: 0 is lost at once, Infinity for ever (default limits.upstreamLostWindowMs). */
  lostWindowMs?: number;
  /** After a loss, try only the address just lost for this long before the others (default 0): move only if it must. */
  stickyMs?: number;
  /** Ops served on this side of the connection (deliveries, one-way notices). */
  handlers?: HandlerTable;
  log?: Logger;
}

export type UpstreamEvents = {
  /** Hello done with a peer that serves the protocol: on the first connect and after every reconnect. */
  ready: [HelloOk, string];
  /** The connection was lost; the upstream is looked for again unless "lost" follows. */
  disconnected: [PeerError | null];
  /** The peer missed its heartbeats ("disconnected" follows). */
  dead: [number];
  /** Given up: nothing served the protocol within the window, or a peer refused us for good. */
  lost: [PeerError];
  writable: [];
};

type Outcome = { ready: true } | { ready: false; error: PeerError; final: boolean };
type UpstreamSocket = Socket<{ connection: Connection }>;

export class Upstream extends Emitter<UpstreamEvents> {
  readonly handlers: HandlerTable;
  readonly log: Logger;
  private readonly what: string;
  private readonly addresses: string[];
  private current: Connection | null = null;
  private hello: HelloOk | null = null;
  private index = 0;
  private closed = false;
  private searching = false;
  private lostWindowMs: number;
  private lostError: PeerError | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly options: UpstreamOptions) {
    super();
    if (options.addresses.length === 0) throw new Error("an upstream needs at least one address");
    for (const address of options.addresses) parseAddress(address, "address");
    this.addresses = [...options.addresses];
    this.handlers = options.handlers ?? new HandlerTable();
    this.log = options.log ?? silentLogger;
    this.what = options.what ?? options.serves;
    this.lostWindowMs = options.lostWindowMs ?? limits.upstreamLostWindowMs;
  }

  get isReady(): boolean {
    return this.current !== null && this.current.isOpen;
  }
  /** The current peer's hello reply. */
  get peer(): HelloOk | null {
    return this.hello;
  }
  /** The address in use (or being tried first). */
  get address(): string {
    return this.addresses[this.index]!;
  }
  get congested(): boolean {
    return this.current?.congested ?? false;
  }
  /** Set once the upstream is lost for good. */
  get lost(): PeerError | null {
    return this.lostError;
  }

  /** Find a peer that serves the protocol; rejects with why not (NOT_CONNECTED, WRONG_PEER, AUTH_FAILED, …). */
  connect(): Promise<HelloOk> {
    return new Promise((resolve, reject) => {
      const offReady = this.once("ready", (hello) => {
        offLost();
        resolve(hello);
      });
      const offLost = this.once("lost", (err) => {
        offReady();
        reject(err);
      });
      void this.search(this.options.firstConnectWindowMs ?? limits.firstConnectWindowMs);
    });
  }

  /** Wait until connected (now or after a reconnect); NOT_CONNECTED after timeoutMs, the loss if lost. */
  ready(timeoutMs: number = limits.requestTimeoutMs): Promise<void> {
    if (this.isReady) return Promise.resolve();
    if (this.lostError !== null) return Promise.reject(this.lostError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        offReady();
        offLost();
        reject(new PeerError("NOT_CONNECTED", `no ${this.what} at ${this.addresses.join(", ")} within ${timeoutMs} ms`));
      }, timeoutMs);
      const offReady = this.once("ready", () => {
        clearTimeout(timer);
        offLost();
        resolve();
      });
      const offLost = this.once("lost", (err) => {
        clearTimeout(timer);
        offReady();
        reject(err);
      });
    });
  }

  /** A typed request on the current connection; NOT_CONNECTED (definite) while there is none. */
  call<P extends Protocol, K extends CallName<P>>(protocol: P, op: K, args: RequestOf<P, K>, timeoutMs?: number): Promise<ReplyOf<P, K>> {
    const connection = this.current;
    if (connection === null || !connection.isOpen) return Promise.reject(this.notConnected());
    return connection.call(protocol, op, args, timeoutMs);
  }

  /**
   * An untyped request, for tests and tools that must send what the protocol forbids (a bad
   * field, an unknown op). Everything else uses call().
   */
  request(op: string, fields: object, timeoutMs?: number): Promise<Envelope> {
    const connection = this.current;
    if (connection === null || !connection.isOpen) return Promise.reject(this.notConnected());
    return connection.request(op, fields, timeoutMs);
  }

  /** A typed one-way message; false (nothing sent) while not connected. */
  send<P extends Protocol, K extends SendName<P>>(protocol: P, op: K, args: RequestOf<P, K>): boolean {
    const connection = this.current;
    if (connection === null || !connection.isOpen) return false;
    connection.send(protocol, op, args);
    return true;
  }

  /** Add a failover address (a backup announced by the coordinator); known ones are ignored. */
  addAddress(address: string): void {
    parseAddress(address, "address");
    if (!this.addresses.includes(address)) this.addresses.push(address);
  }

  /** Change how long a loss may last before the upstream is given up (e.g. for ever, for a long-lived role). */
  setLostWindow(windowMs: number): void {
    this.lostWindowMs = windowMs;
  }

  /** Our own orderly stop: close the connection, look no further, report nothing. */
  close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const connection = this.current;
    if (connection === null || !connection.isOpen) return Promise.resolve();
    return new Promise((resolve) => {
      connection.onClosed(() => resolve());
      connection.close(null);
    });
  }

  private notConnected(): PeerError {
    return this.lostError ?? new PeerError("NOT_CONNECTED", `not connected to a ${this.what} (${this.addresses.join(", ")})`);
  }

  /** Try the addresses in turn, from the current one, until one serves the protocol or the window ends. */
  private async search(windowMs: number, afterLoss = false): Promise<void> {
    if (this.searching || this.closed) return;
    this.searching = true;
    const startedMs = Date.now();
    const lostAddress = this.address;
    // After a loss, one backoff step first: what just failed rarely answers at once, and a crowd
    // of clients must not all come back in the same millisecond.
    if (afterLoss) await this.sleep(backoffMs(1));
    const stickyUntilMs = afterLoss ? startedMs + (this.options.stickyMs ?? 0) : 0;
    const { addresses } = this;
    let lastError: PeerError = new PeerError("NOT_CONNECTED", "not tried");
    let lastLogMs = 0;
    try {
      for (let round = 1; !this.closed; round++) {
        for (let k = 0; k < addresses.length && !this.closed; k++) {
          const sticky = Date.now() < stickyUntilMs;
          if (k > 0 && sticky) break;
          const outcome = await this.tryAddress(this.index);
          if (outcome.ready) return;
          lastError = outcome.error;
          // Our node id taken at the first connect: another live process has it, a mistake to say at
          // once. After a loss it is likely our own old connection, not yet seen closed: try again.
          if (outcome.final || (!afterLoss && outcome.error.name === "NODE_ID_IN_USE")) return this.giveUp(outcome.error);
          if (!sticky) this.index = (this.index + 1) % addresses.length;
        }
        const leftMs = startedMs + windowMs - Date.now();
        if (leftMs <= 0) {
          const where = afterLoss ? `lost the ${this.what} at ${lostAddress}; none found within ${windowMs} ms` : `no ${this.what} at ${addresses.join(", ")} within ${windowMs} ms`;
          return this.giveUp(new PeerError(lastError.name === "UNKNOWN" ? "NOT_CONNECTED" : lastError.name, `${where} (${lastError.message})`));
        }
        if (Date.now() - lastLogMs >= limits.upstreamLogEveryMs) {
          lastLogMs = Date.now();
          this.log.info("looking-for", { what: this.what, addresses: addresses.join(","), round, reason: lastError.message });
        }
        await this.sleep(Math.min(leftMs, backoffMs(round)));
      }
    } finally {
      this.searching = false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private giveUp(error: PeerError): void {
    if (this.closed) return;
    this.closed = true;
    this.lostError = error;
    this.log.warn("upstream-lost", { what: this.what, reason: error.name, message: error.message });
    this.emit("lost", error);
  }

  /** Connect and say hello to one address; ready only if the peer serves the protocol. */
  private async tryAddress(index: number): Promise<Outcome> {
    const address = this.addresses[index]!;
    const { host, port } = parseAddress(address, "address");
    let connection: Connection | null = null;
    try {
      await Bun.connect<{ connection: Connection }>({
        hostname: host,
        port,
        socket: {
          open: (socket: UpstreamSocket) => {
            connection = this.makeConnection(socket);
            socket.data = { connection };
          },
          data: (socket, chunk) => socket.data?.connection.receive(chunk),
          drain: (socket) => socket.data?.connection.drain(),
          close: (socket) => socket.data?.connection.handleSocketClosed(),
          error: (socket, error) => socket.data?.connection.handleSocketClosed(new PeerError("CONNECTION_LOST", error.message)),
        },
      });
    } catch (err) {
      return { ready: false, final: false, error: new PeerError("NOT_CONNECTED", `${address}: ${(err as Error).message}`) };
    }
    if (connection === null) return { ready: false, final: false, error: new PeerError("NOT_CONNECTED", `${address} closed at once`) };
    return this.handshake(connection, address);
  }

  private makeConnection(socket: UpstreamSocket): Connection {
    const { options } = this;
    return new Connection(socket as Socket<unknown>, {
      frameBytesMax: options.frameBytesMax ?? limits.frameBytesMax,
      // What comes back may carry other people's payloads: take them as they are.
      lenient: true,
      fast: (body, conn, frameBytes) => this.handlers.dispatchFast(body, conn, frameBytes),
      outboundBytesMax: options.outboundBytesMax ?? limits.outboundBytesMax,
      pendingRequestsMax: options.pendingRequestsMax ?? limits.pendingRequestsMax,
      log: this.log,
      dispatch: (message, conn, frameBytes) => {
        if (conn.peer === null) {
          // Before the hello reply only a refusal can come (e.g. TOO_MANY_CONNECTIONS): it is the answer.
          if (message.op === "error") return conn.abort(PeerError.fromWire(message));
          throw new PeerError("HELLO_REQUIRED", "no messages before the hello reply");
        }
        dispatchCommon(message, conn, this.handlers, this.log, frameBytes);
      },
      onClose: (conn, reason) => this.onConnectionClosed(conn, reason),
      onWritable: () => this.emit("writable"),
    });
  }

  private async handshake(connection: Connection, address: string): Promise<Outcome> {
    const { options } = this;
    let reply: HelloOk;
    try {
      const hello = makeHello(options.identity, options.heartbeatMs ?? limits.heartbeatMs, options.frameBytesMax ?? limits.frameBytesMax, options.token);
      reply = await connection.call(core, "hello", hello, limits.helloTimeoutMs);
    } catch (err) {
      connection.close(null);
      const error = asPeerError(err);
      // The peer will refuse us the same way every time: say so instead of retrying.
      const final = error.name === "VERSION_MISMATCH" || error.name === "AUTH_FAILED" || error.name === "BAD_ARGUMENT";
      if (final) this.log.error("hello-refused", { peer: address, reason: error.name, message: error.message });
      return { ready: false, final, error: new PeerError(error.name === "UNKNOWN" ? "NOT_CONNECTED" : error.name, `${address}: ${error.message}`) };
    }
    if (options.serves !== "core" && !reply.serves.includes(options.serves)) {
      connection.close(null);
      const pending = options.pendingRoles?.includes(reply.role) ?? false;
      const error = new PeerError("WRONG_PEER", `${address} is ${article(reply.role)}, not ${article(this.what)}`);
      return { ready: false, final: !pending, error };
    }
    if (this.closed) {
      connection.close(null);
      return { ready: true };
    }
    completeHello(connection, reply);
    this.current = connection;
    this.hello = reply;
    this.log.info("connected", { peer: reply.node, role: reply.role, address });
    startHeartbeat(connection, {
      intervalMs: connection.heartbeatMs,
      missedMax: options.missedHeartbeatsMax ?? limits.missedHeartbeatsMax,
      onDead: (_conn, silentMs) => {
        this.log.warn("peer-dead", { peer: reply.node, address, silentMs });
        this.emit("dead", silentMs);
      },
    });
    this.emit("ready", reply, address);
    return { ready: true };
  }

  private onConnectionClosed(connection: Connection, reason: PeerError | null): void {
    if (connection !== this.current) return;
    this.current = null;
    if (this.closed) return; // our own close: not a loss
    this.log.info("disconnected", { peer: this.address, reason: reason?.name ?? "closed" });
    this.emit("disconnected", reason);
    if (this.lostWindowMs <= 0) return this.giveUp(new PeerError("CONNECTION_LOST", `lost the ${this.what} at ${this.address} (${reason?.name ?? "closed"})`));
    void this.search(this.lostWindowMs, true);
  }
}

/** Exponential backoff with full jitter in [50 %, 100 %] of the step, capped. */
export function backoffMs(attempt: number): number {
  const step = Math.min(limits.reconnectDelayMsMax, limits.reconnectDelayMsMin * 2 ** Math.max(0, attempt - 1));
  return Math.round(step * (0.5 + Math.random() * 0.5));
}

function article(word: string): string {
  return `${/^[aeiou]/i.test(word) ? "an" : "a"} ${word}`;
}
