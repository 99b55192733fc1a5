// `./node --role storage --id s1 --listen host:port --peers s2@host:port,s3@host:port [--replicas R]
// [--consistency linearizable|gossip] [--versions-max 10] [--shards S] [--data-dir DIR]
// [--gossip-ms N] [--fsync on|off]`: a node of the replicated, versioned store (seed 003). The nodes
// started together with the same --peers form the cluster; a node started with --join host:port
// asks a running cluster to add it. Spec: protocols/storage.md.

import { join } from "node:path";
import { limits } from "../limits.ts";
import { formatAddress, parseAddress } from "../runtime/address.ts";
import { ExitError, UsageError } from "../runtime/exit.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import { RoleLife, type RoleSpec } from "../runtime/role.ts";
import { serve } from "../runtime/serve.ts";
import { GossipNode } from "./gossip_node.ts";
import { LinearizableNode, type NodeInfo } from "./linearizable_node.ts";
import { StorageClient } from "./storage_client.ts";

/** "s2@127.0.0.1:4902,s3@…" → nodes. */
export function parsePeers(text: string): NodeInfo[] {
  return text.split(",").map((part) => {
    const at = part.indexOf("@");
    if (at <= 0) throw new UsageError(`--peers: "${part}" is not id@host:port`);
    const id = part.slice(0, at).trim();
    return { id, address: formatAddress(parseAddress(part.slice(at + 1).trim(), "--peers")) };
  });
}

export const storageRole: RoleSpec = {
  name: "storage",
  summary: "replicated, versioned key-value storage node (seed 003): linearizable (Raft per shard) or gossip",
  flags: [
    { name: "peers", type: "string", valueName: "id@host:port,…", help: "the other nodes of a new cluster (every node given the same set)" },
    { name: "join", type: "string", valueName: "host:port", help: "join a running cluster through one of its nodes" },
    { name: "replicas", type: "int", valueName: "R", min: 1, max: limits.storageGroupMembersMax, help: `copies of each shard (default ${limits.storageReplicasDefault}; the seed's full replication: R = number of nodes)` },
    { name: "shards", type: "int", valueName: "S", min: 1, max: limits.storageShardsMax, help: `shards of the key space, fixed for the cluster's life (default ${limits.storageShardsDefault})` },
    { name: "consistency", type: "string", valueName: "linearizable|gossip", help: "linearizable (default: Raft per shard) or gossip (the seed's design)" },
    { name: "versions-max", type: "int", valueName: "N", min: 1, max: limits.storageVersionsMaxMax, help: `versions kept per key (default ${limits.storageVersionsDefault})` },
    { name: "data-dir", type: "string", valueName: "DIR", help: "where the node keeps its state across restarts (default ./peer-node-data/<id>)" },
    { name: "gossip-ms", type: "int", valueName: "N", min: 10, max: 60_000, help: `gossip mode: interval between anti-entropy rounds (default ${limits.gossipMsDefault})` },
    { name: "fsync", type: "string", valueName: "on|off", help: "fdatasync the log before acknowledging (default on; off: a machine crash may lose acknowledged writes, a process crash does not)" },
  ],
  defaultListen: { host: "127.0.0.1", port: limits.storagePortDefault },
  needsConnect: false,
  frameBytesMax: limits.storageFrameBytesMax,
  async start(config, flags) {
    const consistency = flags.string("consistency") ?? "linearizable";
    if (consistency !== "linearizable" && consistency !== "gossip") throw new UsageError(`--consistency: "${consistency}" is neither linearizable nor gossip`);
    const fsyncFlag = flags.string("fsync") ?? "on";
    if (fsyncFlag !== "on" && fsyncFlag !== "off") throw new UsageError(`--fsync: "${fsyncFlag}" is neither on nor off`);
    const joinAddress = flags.string("join");
    const peers = flags.has("peers") ? parsePeers(flags.string("peers")!) : [];
    if (peers.some((p) => p.id === config.id)) throw new UsageError(`--peers lists this node's own id ${config.id}: list the others`);
    if (joinAddress !== undefined && peers.length > 0) throw new UsageError("--join and --peers: a node either forms a new cluster (--peers) or joins a running one (--join)");
    const handlers = new HandlerTable();
    const server = serve(config, handlers);
    const self: NodeInfo = { id: config.id, address: formatAddress({ host: server.host, port: server.port }) };
    const common = {
      self,
      initialNodes: [self, ...peers],
      shards: flags.int("shards", limits.storageShardsDefault),
      replicas: flags.int("replicas", limits.storageReplicasDefault),
      versionsMax: flags.int("versions-max", limits.storageVersionsDefault),
      dataDir: flags.string("data-dir") ?? join("peer-node-data", config.id),
      fsync: fsyncFlag === "on",
      token: config.token,
      heartbeatMs: config.heartbeatMs,
      frameBytesMax: config.frameBytesMax,
      log: config.log,
      random: (n: number) => Math.floor(Math.random() * n),
    };
    const node = consistency === "linearizable"
      ? new LinearizableNode({ ...common, joining: joinAddress !== undefined })
      : new GossipNode({ ...common, gossipMs: flags.int("gossip-ms", limits.gossipMsDefault) });
    node.register(handlers);
    try {
      await node.start();
    } catch (err) {
      await server.stop();
      throw new ExitError("startup", `storage ${config.id}: ${(err as Error).message}`);
    }
    if (joinAddress !== undefined) {
      try {
        await StorageClient.join(joinAddress, self, config.token);
      } catch (err) {
        await node.stop();
        await server.stop();
        throw new ExitError("startup", `storage ${config.id}: cannot join the cluster at ${joinAddress}: ${(err as Error).message}`);
      }
      config.log.info("joined", { via: joinAddress });
    }
    config.log.info("storage-ready", { consistency, shards: common.shards, replicas: common.replicas, nodes: node.nodes.length });
    return {
      done: new RoleLife().done,
      stop: async () => {
        await node.stop();
        await server.stop();
      },
    };
  },
};
