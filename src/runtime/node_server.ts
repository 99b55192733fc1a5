// The accepting side of a node: Bun.listen, the connection limit, the hello handshake, pings,
// heartbeats, and dispatch of everything else to the role's handler table.

import type { Socket, TCPSocketListener } from "bun";
import type { Envelope } from "../../protocols/core.ts";
import { asPeerError, PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { Connection } from "./connection.ts";
import { Emitter } from "./emitter.ts";
import type { HandlerTable } from "./handlers.ts";
import { acceptHello, type Identity } from "./handshake.ts";
import { startHeartbeat } from "./heartbeat.ts";
import type { Logger } from "./log.ts";
import { dispatchCommon } from "./dispatch_common.ts";

export interface ServerOptions {
  host: string;
  port: number;
  identity: Identity;
  token?: string;
  frameBytesMax: number;
  heartbeatMs: number;
  missedHeartbeatsMax: number;
  connectionsMax: number;
  outboundBytesMax: number;
  handlers: HandlerTable;
  log: Logger;
}

export type ServerEvents = {
  /** A peer completed hello. */
  ready: [Connection];
  /** A connection closed (reason null: orderly). Fires for every connection, ready or not. */
  closed: [Connection, PeerError | null];
  /** A ready peer missed its heartbeats; "closed" follows. */
  dead: [Connection, number];
  /** Outbound bytes of a congested connection fell below the high-water mark. */
  writable: [Connection];
};

type ServerSocket = Socket<{ connection: Connection }>;

export class NodeServer extends Emitter<ServerEvents> {
  readonly connections = new Set<Connection>();
  private readonly listener: TCPSocketListener<{ connection: Connection }>;
  private stopping = false;

  private constructor(private readonly options: ServerOptions) {
    super();
    this.listener = Bun.listen<{ connection: Connection }>({
      hostname: options.host,
      port: options.port,
      socket: {
        open: (socket) => this.accept(socket),
        data: (socket, chunk) => socket.data?.connection.receive(chunk),
        drain: (socket) => socket.data?.connection.drain(),
        close: (socket) => socket.data?.connection.handleSocketClosed(),
        error: (socket, error) => {
          options.log.debug("socket-error", { error: error.message });
          socket.data?.connection.handleSocketClosed(new PeerError("CONNECTION_LOST", error.message));
        },
      },
    });
  }

  static listen(options: ServerOptions): NodeServer {
    return new NodeServer(options);
  }

  get host(): string {
    return this.listener.hostname;
  }
  get port(): number {
    return this.listener.port;
  }

  /** Connections that completed hello. */
  readyConnections(): Connection[] {
    return [...this.connections].filter((c) => c.peer !== null && c.isOpen);
  }

  private accept(socket: ServerSocket): void {
    const { options } = this;
    const connection = new Connection(socket as Socket<unknown>, {
      frameBytesMax: options.frameBytesMax,
      outboundBytesMax: options.outboundBytesMax,
      pendingRequestsMax: limits.pendingRequestsMax,
      log: options.log,
      dispatch: (message, conn) => this.dispatch(message, conn),
      onClose: (conn, reason) => {
        this.connections.delete(conn);
        if (conn.peer) options.log.info("peer-closed", { peer: conn.peer.node, role: conn.peer.role, reason: reason?.name ?? "closed" });
        this.emit("closed", conn, reason);
      },
      onWritable: (conn) => this.emit("writable", conn),
    });
    socket.data = { connection };
    if (this.stopping) {
      connection.close(new PeerError("SHUTTING_DOWN", "node is shutting down"));
      return;
    }
    if (this.connections.size >= options.connectionsMax) {
      options.log.warn("connection-refused", { reason: "connectionsMax", limit: options.connectionsMax });
      connection.close(new PeerError("TOO_MANY_CONNECTIONS", `node is at its limit of ${options.connectionsMax} connections`));
      return;
    }
    this.connections.add(connection);
    // As with heartbeats, a starved process must not blame the peer: if the timer fires late, the
    // hello may be sitting unread in the socket, so wait once more after pending reads.
    const armedAt = Date.now();
    const helloTimer = setTimeout(function check() {
      if (connection.peer !== null || !connection.isOpen) return;
      const lateMs = Date.now() - armedAt - limits.helloTimeoutMs;
      if (lateMs > limits.helloTimeoutMs / 2) {
        setImmediate(() => connection.peer === null && connection.isOpen && setTimeout(check, limits.helloTimeoutMs).unref?.());
        return;
      }
      connection.close(new PeerError("HELLO_TIMEOUT", `no hello within ${limits.helloTimeoutMs} ms`));
    }, limits.helloTimeoutMs);
    connection.onClosed(() => clearTimeout(helloTimer));
  }

  private dispatch(message: Envelope, connection: Connection): void {
    if (connection.peer === null) {
      if (message.op !== "hello") {
        throw new PeerError("HELLO_REQUIRED", `"${message.op}" before hello; the first message must be hello`);
      }
      this.handshake(message, connection);
      return;
    }
    if (message.op === "hello") throw new PeerError("ALREADY_HELLO", "hello was already sent on this connection");
    dispatchCommon(message, connection, this.options.handlers, this.options.log);
  }

  private handshake(message: Envelope, connection: Connection): void {
    const { options } = this;
    try {
      const reply = acceptHello(message, connection, {
        identity: options.identity,
        token: options.token,
        frameBytesMax: options.frameBytesMax,
        heartbeatMs: options.heartbeatMs,
      });
      if (message.id !== undefined) connection.replyOk(message.id, reply);
    } catch (err) {
      const error = asPeerError(err);
      options.log.warn("hello-refused", { remote: connection.remote, reason: error.name, message: error.message });
      connection.send(error.toWire(message.id));
      connection.close(null);
      return;
    }
    options.log.info("peer-ready", { peer: connection.peer!.node, role: connection.peer!.role, heartbeatMs: connection.heartbeatMs });
    startHeartbeat(connection, {
      intervalMs: connection.heartbeatMs,
      missedMax: options.missedHeartbeatsMax,
      onDead: (conn, silentMs) => {
        options.log.warn("peer-dead", { peer: conn.peer?.node, role: conn.peer?.role, silentMs });
        this.emit("dead", conn, silentMs);
      },
    });
    this.emit("ready", connection);
  }

  /** Stop accepting, tell every peer we are going, and close. Resolves once sockets are closed. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const closing = [...this.connections].map(
      (connection) =>
        new Promise<void>((resolve) => {
          connection.onClosed(() => resolve());
          connection.close(new PeerError("SHUTTING_DOWN", "node is shutting down"));
        }),
    );
    await Promise.race([Promise.all(closing), Bun.sleep(limits.shutdownGraceMs)]);
    this.listener.stop(true);
  }
}
