// A real PeerClient for tests, connected to a node address with a quiet logger.

import { PeerClient, type ClientOptions } from "../../src/runtime/peer_client.ts";

export async function connectClient(address: string, options: Partial<Omit<ClientOptions, "host" | "port">> = {}): Promise<PeerClient> {
  const client = PeerClient.forAddress(address, {
    identity: { node: `test-${Math.random().toString(36).slice(2, 8)}`, role: "client" },
    ...options,
  });
  await client.connect();
  return client;
}
