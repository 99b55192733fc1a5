// A real Upstream for tests, connected to a node address (any node: it only needs the core protocol).

import { Upstream, type UpstreamOptions } from "../../src/runtime/upstream.ts";

export async function connectClient(address: string, options: Partial<Omit<UpstreamOptions, "addresses">> = {}): Promise<Upstream> {
  const client = new Upstream({
    addresses: [address],
    serves: "core",
    identity: { node: `test-${Math.random().toString(36).slice(2, 8)}`, role: "client" },
    ...options,
  });
  await client.connect();
  return client;
}
