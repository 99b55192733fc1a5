// A real PeerClient for tests, connected to a node address with a quiet logger.

import { PeerClient, type ClientOptions } from "../../src/runtime/peer_client.ts";

export async function connectClient(address: string, options: Partial<ClientOptions> = {}): Promise<PeerClient> {
  const at = address.lastIndexOf(":");
  const client = new PeerClient({
    host: address.slice(0, at),
    port: Number(address.slice(at + 1)),
    identity: { node: `test-${Math.random().toString(36).slice(2, 8)}`, role: "client" },
    ...options,
  });
  await client.connect();
  return client;
}
