// Gossip mode (the seed's design): written next; see protocols/storage.md.
import type { HandlerTable } from "../runtime/handlers.ts";
import type { Logger } from "../runtime/log.ts";
import type { NodeInfo } from "./linearizable_node.ts";

export interface GossipNodeOptions {
  self: NodeInfo;
  initialNodes: NodeInfo[];
  shards: number;
  replicas: number;
  versionsMax: number;
  dataDir: string;
  fsync: boolean;
  token?: string;
  heartbeatMs?: number;
  frameBytesMax: number;
  log: Logger;
  random: (n: number) => number;
  gossipMs: number;
}

export class GossipNode {
  constructor(private readonly o: GossipNodeOptions) {}
  get nodes(): NodeInfo[] {
    return this.o.initialNodes;
  }
  register(_handlers: HandlerTable): void {}
  async start(): Promise<void> {
    throw new Error("gossip mode is not built yet");
  }
  async stop(): Promise<void> {}
}
