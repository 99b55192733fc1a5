// What every node does with an inbound message once the handshake is done, on either side:
// answer ping, log connection-level errors, and hand the rest to the role's handlers.

import type { Envelope } from "../../protocols/core.ts";
import type { Connection } from "./connection.ts";
import type { HandlerTable } from "./handlers.ts";
import type { Logger } from "./log.ts";

export function dispatchCommon(message: Envelope, connection: Connection, handlers: HandlerTable, log: Logger): void {
  switch (message.op) {
    case "ping":
      if (message.id !== undefined) connection.replyOk(message.id);
      return;
    case "error":
      // An error without `re` is about the connection or a one-way message; nothing awaits it.
      log.warn("peer-error", { peer: connection.peer?.node, name: message.name, message: message.message });
      return;
    default:
      handlers.dispatch(message, connection);
  }
}
