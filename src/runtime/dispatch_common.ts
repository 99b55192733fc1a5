// What every node does with an inbound message once the handshake is done, on either side:
// answer ping, log connection-level errors, and hand the rest to the role's handlers.

import type { Envelope } from "../../protocols/core.ts";
import { PeerError } from "../errors.ts";
import type { Connection } from "./connection.ts";
import type { HandlerTable } from "./handlers.ts";
import type { Logger } from "./log.ts";

export function dispatchCommon(message: Envelope, connection: Connection, handlers: HandlerTable, log: Logger, frameBytes: number): void {
  switch (message.op) {
    case "ping":
      if (message.id !== undefined) connection.replyOk(message.id);
      return;
    case "hello":
      throw new PeerError("ALREADY_HELLO", "hello was already sent on this connection", { re: message.id });
    case "error": {
      if (message.id !== undefined) throw new PeerError("BAD_ENVELOPE", `"error" is one-way: it takes no "id"`, { re: message.id });
      // An error without `re` is about the connection or a one-way message; nothing awaits it.
      const error = PeerError.fromWire(message);
      log.warn("peer-error", { peer: connection.peer?.node, name: error.name, message: error.message });
      return;
    }
    default:
      handlers.dispatch(message, connection, frameBytes);
  }
}
