// `./node --role broker`: a node that serves the broker's ops (queues, exchanges, pub/sub, shared
// state, membership). Other roles host the same broker in-process with --embed-broker, through
// hostBroker().

import { limits } from "../limits.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import type { NodeConfig } from "../runtime/node_config.ts";
import type { NodeServer } from "../runtime/node_server.ts";
import { RoleLife, type RoleSpec } from "../runtime/role.ts";
import { serve } from "../runtime/serve.ts";
import { Broker } from "./broker.ts";

/** Serve a broker on this node's listen address, with the role's own handlers beside its ops. */
export function hostBroker(config: NodeConfig, handlers: HandlerTable = new HandlerTable(), bytesMax: number = limits.brokerBytesMax): { server: NodeServer; broker: Broker } {
  const broker = new Broker(config.log, config.frameBytesMax, bytesMax);
  broker.register(handlers);
  const server = serve(config, handlers);
  broker.attach(server);
  return { server, broker };
}

export const brokerRole: RoleSpec = {
  name: "broker",
  summary: "embedded message broker: exchanges, work queues with acks, pub/sub, shared state, membership",
  flags: [
    {
      name: "memory-mb",
      type: "int",
      valueName: "N",
      min: limits.brokerMemoryMbMin,
      max: limits.brokerMemoryMbMax,
      help: `bytes of messages and stored values the broker may hold, in MiB; past it publishes and writes get LIMIT_EXCEEDED (default ${limits.brokerBytesMax / 2 ** 20})`,
    },
  ],
  defaultListen: { host: "127.0.0.1", port: limits.brokerPortDefault },
  needsConnect: false,
  async start(config, flags) {
    const { server, broker } = hostBroker(config, undefined, flags.int("memory-mb", limits.brokerBytesMax / 2 ** 20) * 2 ** 20);
    return {
      done: new RoleLife().done, // a server runs until it is stopped
      stop: async () => {
        broker.stop();
        await server.stop();
      },
    };
  },
};
