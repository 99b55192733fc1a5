// Start a broker process and connect BrokerClients to it, for broker tests.

import { BrokerClient, type BrokerClientOptions } from "../../src/broker/broker_client.ts";
import { NodeProcess } from "./node_process.ts";

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
