// Start a NodeServer from a NodeConfig and print the one stdout line scripts read the port from.

import { limits } from "../limits.ts";
import { formatAddress } from "./address.ts";
import { ExitError } from "./exit.ts";
import type { HandlerTable } from "./handlers.ts";
import type { NodeConfig } from "./node_config.ts";
import { NodeServer } from "./node_server.ts";

export function serve(config: NodeConfig, handlers: HandlerTable): NodeServer {
  if (config.listen === null) throw new Error(`role ${config.role} has no listen address`);
  let server: NodeServer;
  try {
    server = NodeServer.listen({
      host: config.listen.host,
      port: config.listen.port,
      identity: { node: config.id, role: config.role },
      token: config.token,
      frameBytesMax: config.frameBytesMax,
      heartbeatMs: config.heartbeatMs,
      missedHeartbeatsMax: config.missedHeartbeatsMax,
      connectionsMax: limits.connectionsMax,
      outboundBytesMax: limits.outboundBytesMax,
      handlers,
      log: config.log,
    });
  } catch (err) {
    throw new ExitError("startup", `cannot listen on ${formatAddress(config.listen)}: ${describeListenError(err)}`);
  }
  const address = formatAddress({ host: server.host, port: server.port });
  config.terminal.line(`peer-node ${config.role} ${config.id} listening on ${address}`);
  config.log.info("listening", { address, heartbeatMs: config.heartbeatMs, frameBytesMax: config.frameBytesMax });
  return server;
}

function describeListenError(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "EADDRINUSE") return "address already in use";
  if (code === "EADDRNOTAVAIL") return "address not available on this machine";
  if (code === "EACCES") return "permission denied";
  return (err as Error).message ?? String(err);
}
