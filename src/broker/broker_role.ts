// `./node --role broker`: a node that serves the broker's ops (queues, exchanges, pub/sub, shared
// state, membership) to every client.

import type { RoleSpec } from "../cli/role.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import { serve } from "../runtime/serve.ts";

export const BROKER_PORT_DEFAULT = 4800;

export const brokerRole: RoleSpec = {
  name: "broker",
  summary: "embedded message broker: exchanges, work queues with acks, pub/sub, shared state, membership",
  flags: [],
  defaultListen: { host: "127.0.0.1", port: BROKER_PORT_DEFAULT },
  needsConnect: false,
  async start(config) {
    const handlers = new HandlerTable();
    const server = serve(config, handlers);
    return {
      done: new Promise<number>(() => {}),
      stop: () => server.stop(),
    };
  },
};
