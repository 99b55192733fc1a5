// `./node --role broker`: a node that serves the broker's ops (queues, exchanges, pub/sub, shared
// state, membership). Other roles host the same broker in-process with --embed-broker, through
// hostBroker().

import type { RoleSpec } from "../cli/role.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import type { NodeConfig } from "../runtime/node_config.ts";
import type { NodeServer } from "../runtime/node_server.ts";
import { serve } from "../runtime/serve.ts";
import { Broker } from "./broker.ts";

export const BROKER_PORT_DEFAULT = 4800;

/** Serve a broker on this node's listen address, with the role's own handlers beside its ops. */
export function hostBroker(config: NodeConfig, handlers: HandlerTable = new HandlerTable()): { server: NodeServer; broker: Broker } {
  const broker = new Broker(config.log);
  const server = serve(config, handlers);
  broker.attach(server, handlers);
  return { server, broker };
}

export const brokerRole: RoleSpec = {
  name: "broker",
  summary: "embedded message broker: exchanges, work queues with acks, pub/sub, shared state, membership",
  flags: [],
  defaultListen: { host: "127.0.0.1", port: BROKER_PORT_DEFAULT },
  needsConnect: false,
  async start(config) {
    const { server, broker } = hostBroker(config);
    return {
      done: new Promise<number>(() => {}),
      stop: async () => {
        broker.stop();
        await server.stop();
      },
    };
  },
};
