// host:port parsing for --listen and --connect. IPv6 hosts go in brackets: [::1]:4800.

import { UsageError } from "./exit.ts";

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

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function formatAddress(address: Address): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** "a:1,b:2": each checked as host:port and written back in one form, in order. */
export function parseAddressList(text: string, flag: string): string[] {
  return text.split(",").map((part) => formatAddress(parseAddress(part.trim(), flag)));
}
