// Where data lives: a key belongs to shard fnv1a32(key) mod S (S fixed for the cluster's life); a
// shard lives on the R nodes that follow its name on a consistent-hash ring of the cluster's nodes
// (hashring, 3rd-Eden, ketama-compatible), so adding or removing a node moves only the shards whose
// successors change (about R/N of them). Every node computes the same placement from the same node
// list (the meta group's, see storage_node.ts).

import HashRing from "hashring";
import { fnv1a32 } from "../fnv.ts";

export function shardOf(key: string, shards: number): number {
  return fnv1a32(key) % shards;
}

export class Placement {
  private readonly ring: HashRing;

  constructor(
    /** Node ids, any order: the ring sorts them out. */
    readonly nodes: readonly string[],
    readonly replicas: number,
  ) {
    this.ring = new HashRing([...nodes].sort());
  }

  /** Per shard, computed once: a Placement never changes, and nodes ask on every reconcile round. */
  private readonly cache = new Map<number, string[]>();

  /** The nodes that should hold `shard`, the first one preferred as leader (a copy: callers keep it as a membership). */
  replicasOf(shard: number): string[] {
    let replicas = this.cache.get(shard);
    if (replicas === undefined) {
      replicas = this.nodes.length === 0 ? [] : this.ring.range(`shard-${shard}`, Math.min(this.replicas, this.nodes.length));
      this.cache.set(shard, replicas);
    }
    return [...replicas];
  }
}
