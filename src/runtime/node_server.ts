// The accepting side of a node: Bun.listen, the connection limit, the hello handshake, pings,
// heartbeats, and dispatch of everything else to the role's handler table.

import type { Socket, TCPSocketListener } from "bun";
import type { Envelope } from "../../protocols/core.ts";
import { asPeerError, PeerError, quote } from "../errors.ts";
import { limits } from "../limits.ts";
import { Connection } from "./connection.ts";
import { Emitter } from "./emitter.ts";
import { OutboundLedger } from "./outbound_ledger.ts";
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
  /** Every byte this node has queued to send, against outboundBytesTotalMax. */
  readonly ledger = new OutboundLedger(limits.outboundBytesTotalMax);
  /** Connections still waiting for their hello, oldest first: capped on their own, so strangers never crowd out peers. */
  private readonly strangers = new Set<Connection>();
  private peers = 0;
  /**
   * Checks a valid hello must also pass before the peer is admitted; one throws a PeerError to
   * refuse (the broker: one live connection per node id and role). They see `connection.peer` set.
   */
  readonly admissionChecks: Array<(connection: Connection) => void> = [];
  private readonly listener: TCPSocketListener<{ connection: Connection }>;
  private stopping = false;

  private constructor(private readonly options: ServerOptions) {
    super();
    // Under the node's bound again: every congested producer may go on (a broker's deliveries).
    this.ledger.onRelief = () => {
      for (const connection of this.readyConnections()) this.emit("writable", connection);
    };
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
    // Until hello, a connection is a stranger: a frame big enough for a hello, a few KiB of replies.
    const connection = new Connection(socket as Socket<unknown>, {
      frameBytesMax: limits.strangerFrameBytesMax,
      payloads: options.handlers.payloads,
      outboundBytesMax: limits.strangerOutboundBytesMax,
      ledger: this.ledger,
      fast: (body, conn, frameBytes) => options.handlers.dispatchFast(body, conn, frameBytes),
      pendingRequestsMax: limits.pendingRequestsMax,
      log: options.log,
      dispatch: (message, conn, frameBytes) => this.dispatch(message, conn, frameBytes),
      onClose: (conn, reason) => {
        this.connections.delete(conn);
        if (!this.strangers.delete(conn)) this.peers--;
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
    if (this.strangers.size >= limits.strangersMax) {
      // The one that has waited longest goes: a real client says hello within milliseconds.
      const oldest = this.strangers.values().next().value!;
      options.log.warn("stranger-evicted", { remote: oldest.remote, waiting: this.strangers.size });
      oldest.close(new PeerError("HELLO_TIMEOUT", `evicted: ${limits.strangersMax} connections were waiting for their hello`));
    }
    this.connections.add(connection);
    this.strangers.add(connection);
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

  private dispatch(message: Envelope, connection: Connection, frameBytes: number): void {
    if (connection.peer === null) {
      if (message.op !== "hello") {
        throw new PeerError("HELLO_REQUIRED", `${quote(message.op)} before hello; the first message must be hello`, { re: message.id });
      }
      this.handshake(message, connection);
      return;
    }
    dispatchCommon(message, connection, this.options.handlers, this.options.log, frameBytes);
  }

  private handshake(message: Envelope, connection: Connection): void {
    const { options } = this;
    if (message.id === undefined) throw new PeerError("BAD_ENVELOPE", "hello is a request: it needs an \"id\"");
    try {
      if (this.peers >= options.connectionsMax) {
        options.log.warn("connection-refused", { reason: "connectionsMax", limit: options.connectionsMax });
        throw new PeerError("TOO_MANY_CONNECTIONS", `node is at its limit of ${options.connectionsMax} connections`);
      }
      const reply = acceptHello(message, connection, {
        identity: options.identity,
        token: options.token,
        frameBytesMax: options.frameBytesMax,
        heartbeatMs: options.heartbeatMs,
        serves: options.handlers.served,
      });
      try {
        for (const check of this.admissionChecks) check(connection);
      } catch (err) {
        connection.peer = null; // refused: still a stranger, never a peer
        throw err;
      }
      this.strangers.delete(connection);
      this.peers++;
      connection.admit(options.frameBytesMax, options.outboundBytesMax);
      connection.replyOk(message.id, reply);
    } catch (err) {
      const error = asPeerError(err);
      options.log.warn("hello-refused", { remote: connection.remote, reason: error.name, message: error.message });
      error.re = message.id;
      // Refusals that close (version, token) close; a malformed hello may be corrected and sent again.
      connection.failRequest(message, error);
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
