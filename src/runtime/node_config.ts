// What every node needs from the command line, whatever its role: who it is, where it listens or
// connects, its token, heartbeat and frame limits, its logger and its terminal.

import { nanoid } from "nanoid";
import { limits } from "../limits.ts";
import type { Address } from "./address.ts";
import { Logger, type LogLevel } from "./log.ts";
import { Terminal } from "./terminal.ts";

export interface NodeConfig {
  id: string;
  role: string;
  listen: Address | null;
  /** Where the node this role depends on may be, in failover order ("host:port"). */
  connect: string[];
  token?: string;
  heartbeatMs: number;
  missedHeartbeatsMax: number;
  frameBytesMax: number;
  log: Logger;
  terminal: Terminal;
  /** The broker this role uses runs in this very process (--embed-broker). */
  brokerInProcess?: boolean;
}

export function defaultNodeId(role: string): string {
  return `${role}-${nanoid(6)}`;
}

export function makeNodeConfig(fields: Partial<NodeConfig> & { role: string; logLevel?: LogLevel }): NodeConfig {
  const id = fields.id ?? defaultNodeId(fields.role);
  const terminal = fields.terminal ?? new Terminal();
  return {
    id,
    role: fields.role,
    listen: fields.listen ?? null,
    connect: fields.connect ?? [],
    token: fields.token,
    heartbeatMs: fields.heartbeatMs ?? limits.heartbeatMs,
    missedHeartbeatsMax: fields.missedHeartbeatsMax ?? limits.missedHeartbeatsMax,
    frameBytesMax: fields.frameBytesMax ?? limits.frameBytesMax,
    log: fields.log ?? new Logger(id, fields.logLevel ?? "info", (line) => terminal.log(line)),
    terminal,
  };
}
