// host:port parsing for --listen and --connect. IPv6 hosts go in brackets: [::1]:4800.

import { UsageError } from "./usage_error.ts";

export interface Address {
  host: string;
  port: number;
}

export function parseAddress(text: string, flag: string): Address {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.\-]+)):(\d{1,5})$/.exec(text);
  if (!match) throw new UsageError(`${flag}: malformed address "${text}", expected host:port (e.g. 127.0.0.1:4800)`);
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port > 65535) throw new UsageError(`${flag}: port ${port} is out of range 0..65535`);
  return { host, port };
}

export function formatAddress(address: Address): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
