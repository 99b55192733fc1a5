// What every node needs from the command line, whatever its role: who it is, where it listens or
// connects, its token, heartbeat and frame limits, and its logger.

import { nanoid } from "nanoid";
import type { Address } from "../cli/address.ts";
import { limits } from "../limits.ts";
import { Logger, type LogLevel } from "./log.ts";

export interface NodeConfig {
  id: string;
  role: string;
  listen: Address | null;
  connect: Address | null;
  token?: string;
  heartbeatMs: number;
  missedHeartbeatsMax: number;
  frameBytesMax: number;
  log: Logger;
  /** The broker this role uses runs in this very process (--embed-broker). */
  brokerInProcess?: boolean;
}

export function defaultNodeId(role: string): string {
  return `${role}-${nanoid(6)}`;
}

export function makeNodeConfig(fields: Partial<NodeConfig> & { role: string; logLevel?: LogLevel }): NodeConfig {
  const id = fields.id ?? defaultNodeId(fields.role);
  return {
    id,
    role: fields.role,
    listen: fields.listen ?? null,
    connect: fields.connect ?? null,
    token: fields.token,
    heartbeatMs: fields.heartbeatMs ?? limits.heartbeatMs,
    missedHeartbeatsMax: fields.missedHeartbeatsMax ?? limits.missedHeartbeatsMax,
    frameBytesMax: fields.frameBytesMax ?? limits.frameBytesMax,
    log: fields.log ?? new Logger(id, fields.logLevel ?? "info"),
  };
}
