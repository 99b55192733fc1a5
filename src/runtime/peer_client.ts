// The connecting side of a node: Bun.connect, hello, heartbeats, and reconnection with bounded,
// jittered exponential backoff. Requests made while disconnected fail at once with NOT_CONNECTED
// (definite), so callers decide whether to wait for "ready" and retry.

import type { Socket } from "bun";
import type { HelloOk, OkReply } from "../../protocols/core.ts";
import { parseAddress } from "../cli/address.ts";
import { asPeerError, PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { Connection } from "./connection.ts";
import { dispatchCommon } from "./dispatch_common.ts";
import { Emitter } from "./emitter.ts";
import { HandlerTable } from "./handlers.ts";
import { completeHello, makeHello, type Identity } from "./handshake.ts";
import { startHeartbeat } from "./heartbeat.ts";
import { silentLogger, type Logger } from "./log.ts";

export interface ClientOptions {
  host: string;
  port: number;
  identity: Identity;
  token?: string;
  heartbeatMs?: number;
  missedHeartbeatsMax?: number;
  frameBytesMax?: number;
  outboundBytesMax?: number;
  /** Requests awaiting replies at once (default limits.pendingRequestsMax). */
  pendingRequestsMax?: number;
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  reconnectAttemptsMax?: number;
  /** Give up once the peer has been unreachable this long (whatever the attempt count). */
  reconnectWindowMs?: number;
  handlers?: HandlerTable;
  log?: Logger;
}

export type ClientEvents = {
  /** Hello done; fires on the first connect and after every reconnect. */
  ready: [HelloOk];
  /** The connection was lost (it may come back). */
  disconnected: [PeerError | null];
  /** The peer missed its heartbeats. "disconnected" follows. */
  dead: [number];
  /** Reconnection attempts are exhausted, or the peer refused us for good; the client is closed. */
  "gave-up": [PeerError];
  writable: [];
  /** A higher layer could not restore something after a reconnect (e.g. a consumer). */
  "recovery-failed": [string, PeerError];
};

type ClientSocket = Socket<{ connection: Connection }>;

export class PeerClient extends Emitter<ClientEvents> {
  readonly handlers: HandlerTable;
  private connection: Connection | null = null;
  private readyConnection: Connection | null = null;
  private closedByUser = false;
  private attempts = 0;
  /** When the current outage began (0: connected, or never connected). */
  private unreachableSinceMs = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly log: Logger;
  private peerHello: HelloOk | null = null;

  constructor(private readonly options: ClientOptions) {
    super();
    this.handlers = options.handlers ?? new HandlerTable();
    this.log = options.log ?? silentLogger;
  }

  get isReady(): boolean {
    return this.readyConnection !== null && this.readyConnection.isOpen;
  }
  /** The peer's hello reply from the current connection. */
  get peer(): HelloOk | null {
    return this.peerHello;
  }
  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }
  get congested(): boolean {
    return this.readyConnection?.congested ?? false;
  }

  /** Connect and complete hello. Rejects if the first attempt fails and reconnect is off. */
  connect(): Promise<HelloOk> {
    this.closedByUser = false;
    return new Promise((resolve, reject) => {
      const offReady = this.once("ready", (hello) => {
        offGaveUp();
        resolve(hello);
      });
      const offGaveUp = this.once("gave-up", (err) => {
        offReady();
        reject(err);
      });
      void this.attempt();
    });
  }

  /** Wait until the client is ready (now or after a reconnect). */
  ready(timeoutMs: number = limits.requestTimeoutMs): Promise<void> {
    if (this.isReady) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        offGaveUp();
        reject(new PeerError("NOT_CONNECTED", `not connected to ${this.address} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.once("ready", () => {
        clearTimeout(timer);
        offGaveUp();
        resolve();
      });
      const offGaveUp = this.once("gave-up", (err) => {
        clearTimeout(timer);
        off();
        reject(err);
      });
    });
  }

  request<T extends object = OkReply>(message: { op: string; [field: string]: unknown }, timeoutMs?: number): Promise<T & OkReply> {
    const connection = this.readyConnection;
    if (connection === null || !connection.isOpen) {
      return Promise.reject(new PeerError("NOT_CONNECTED", `not connected to ${this.address}`));
    }
    return connection.request<T>(message, timeoutMs);
  }

  /** Send a one-way message; returns false (and sends nothing) while disconnected. */
  send(message: object): boolean {
    const connection = this.readyConnection;
    if (connection === null || !connection.isOpen) return false;
    connection.send(message);
    return true;
  }

  /** Change how long an outage may last before the client gives up (e.g. shorter once connected). */
  setReconnectWindow(windowMs: number | undefined): void {
    this.options.reconnectWindowMs = windowMs;
  }

  /** For layers on top (BrokerClient) to report what they could not restore after a reconnect. */
  emitRecoveryError(what: string, error: PeerError): void {
    this.log.warn("recovery-failed", { what, reason: error.name, message: error.message });
    this.emit("recovery-failed", what, error);
  }

  /** A client for "host:port" ("[::1]:port" for IPv6). */
  static forAddress(address: string, options: Omit<ClientOptions, "host" | "port">): PeerClient {
    const { host, port } = parseAddress(address, "address");
    return new PeerClient({ ...options, host, port });
  }

  /** Close for good: no reconnect. */
  close(): Promise<void> {
    this.closedByUser = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const connection = this.connection;
    if (connection === null || !connection.isOpen) return Promise.resolve();
    return new Promise((resolve) => {
      connection.onClosed(() => resolve());
      connection.close(null);
    });
  }

  private async attempt(): Promise<void> {
    this.reconnectTimer = null;
    if (this.closedByUser) return;
    this.attempts++;
    const { options } = this;
    let connection: Connection | null = null;
    try {
      await Bun.connect<{ connection: Connection }>({
        hostname: options.host,
        port: options.port,
        socket: {
          open: (socket: ClientSocket) => {
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
      this.scheduleReconnect(new PeerError("NOT_CONNECTED", `cannot connect to ${this.address}: ${(err as Error).message}`));
      return;
    }
    if (connection === null) return;
    await this.handshake(connection);
  }

  private makeConnection(socket: ClientSocket): Connection {
    const { options } = this;
    const connection = new Connection(socket as Socket<unknown>, {
      frameBytesMax: options.frameBytesMax ?? limits.frameBytesMax,
      outboundBytesMax: options.outboundBytesMax ?? limits.outboundBytesMax,
      pendingRequestsMax: options.pendingRequestsMax ?? limits.pendingRequestsMax,
      log: this.log,
      dispatch: (message, conn) => {
        if (conn.peer === null) throw new PeerError("HELLO_REQUIRED", "no messages before the hello reply");
        dispatchCommon(message, conn, this.handlers, this.log);
      },
      onClose: (conn, reason) => this.onConnectionClosed(conn, reason),
      onWritable: () => this.emit("writable"),
    });
    this.connection = connection;
    return connection;
  }

  private async handshake(connection: Connection): Promise<void> {
    const { options } = this;
    let reply: HelloOk;
    try {
      const hello = makeHello(options.identity, options.heartbeatMs ?? limits.heartbeatMs, options.token);
      reply = await connection.request<HelloOk>(hello, limits.helloTimeoutMs);
    } catch (err) {
      const error = asPeerError(err);
      if (error.name === "VERSION_MISMATCH" || error.name === "AUTH_FAILED" || error.name === "BAD_ARGUMENT") {
        // Retrying cannot help: the peer will refuse us the same way.
        this.closedByUser = true;
        this.log.error("hello-refused", { peer: this.address, reason: error.name, message: error.message });
        connection.close(null);
        this.emit("gave-up", error);
      } else {
        connection.close(null);
      }
      return;
    }
    completeHello(connection, reply);
    this.attempts = 0;
    this.unreachableSinceMs = 0;
    this.peerHello = reply;
    this.readyConnection = connection;
    this.log.info("connected", { peer: reply.node, role: reply.role, address: this.address });
    startHeartbeat(connection, {
      intervalMs: connection.heartbeatMs,
      missedMax: options.missedHeartbeatsMax ?? limits.missedHeartbeatsMax,
      onDead: (_conn, silentMs) => {
        this.log.warn("peer-dead", { peer: reply.node, address: this.address, silentMs });
        this.emit("dead", silentMs);
      },
    });
    this.emit("ready", reply);
  }

  private onConnectionClosed(connection: Connection, reason: PeerError | null): void {
    if (connection !== this.connection) return;
    const wasReady = this.readyConnection === connection;
    this.readyConnection = null;
    this.connection = null;
    if (wasReady) {
      this.log.info("disconnected", { peer: this.address, reason: reason?.name ?? "closed" });
      this.emit("disconnected", reason);
    }
    if (!this.closedByUser) this.scheduleReconnect(reason ?? new PeerError("CONNECTION_LOST", "connection closed by peer"));
  }

  private scheduleReconnect(reason: PeerError): void {
    if (this.closedByUser || this.reconnectTimer !== null) return;
    const attemptsMax = this.options.reconnectAttemptsMax ?? limits.reconnectAttemptsMax;
    const now = Date.now();
    if (this.unreachableSinceMs === 0) this.unreachableSinceMs = now;
    const windowOver = this.options.reconnectWindowMs !== undefined && now - this.unreachableSinceMs >= this.options.reconnectWindowMs;
    if (this.options.reconnect === false || this.attempts >= attemptsMax || windowOver) {
      this.closedByUser = true;
      const error = new PeerError(reason.name === "UNKNOWN" ? "CONNECTION_LOST" : reason.name, `${reason.message} (gave up after ${this.attempts} attempt(s))`);
      this.log.error("gave-up", { peer: this.address, attempts: this.attempts, reason: reason.message });
      this.emit("gave-up", error);
      return;
    }
    let delayMs = backoffMs(this.attempts);
    if (this.options.reconnectWindowMs !== undefined) delayMs = Math.max(1, Math.min(delayMs, this.unreachableSinceMs + this.options.reconnectWindowMs - now));
    this.log.info("reconnecting", { peer: this.address, inMs: delayMs, attempt: this.attempts + 1, reason: reason.message });
    this.reconnectTimer = setTimeout(() => void this.attempt(), delayMs);
  }
}

/** Exponential backoff with full jitter in [50 %, 100 %] of the step, capped. */
export function backoffMs(attempt: number): number {
  const step = Math.min(limits.reconnectDelayMsMax, limits.reconnectDelayMsMin * 2 ** Math.max(0, attempt - 1));
  return Math.round(step * (0.5 + Math.random() * 0.5));
}
