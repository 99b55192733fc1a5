// Start a broker process and connect BrokerClients to it, for broker tests.

import { afterAll, afterEach, beforeAll } from "bun:test";
import { BrokerClient, type BrokerClientOptions } from "../../src/broker/broker_client.ts";
import { killAll, NodeProcess } from "./node_process.ts";

const clients: BrokerClient[] = [];

export async function startBroker(extra: string[] = []): Promise<NodeProcess> {
  return NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--log-level", "info", ...extra]);
}

export async function brokerClient(node: NodeProcess, options: BrokerClientOptions = {}): Promise<BrokerClient> {
  const client = await BrokerClient.connect(node.address, { heartbeatMs: 0, ...options });
  clients.push(client);
  return client;
}

export async function closeClients(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
}

/**
 * One broker process for a whole test file: started before the first test, clients closed after
 * each, every process killed at the end. Returns a getter for the broker.
 */
export function useBroker(extra: string[] = []): () => NodeProcess {
  let broker: NodeProcess | null = null;
  beforeAll(async () => {
    broker = await startBroker(extra);
  });
  afterEach(closeClients);
  afterAll(killAll);
  return () => broker!;
}
