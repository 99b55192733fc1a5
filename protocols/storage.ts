// The storage protocol (seed 003): replicated, versioned key-value storage. Clients send `kv.*`
// ops to any storage node; a node that does not lead the key's shard answers NOT_LEADER with the
// leader's address in `hint` (nothing was done), a node on a minority side UNAVAILABLE (nothing was
// done). Storage nodes talk to each other with `raft` (linearizable mode), `gossip.*` and `tpc.*`
// (gossip mode) and `storage.*` (membership). Spec: protocols/storage.md.

import { limits } from "../src/limits.ts";
import { message, protocol, request, type ReplyOf } from "./protocol.ts";
import { raftMessage } from "./raft.ts";
import { t, type Infer } from "./schema.ts";

const key = t.string(limits.storageKeyCharsMax, 1);
const nodeId = t.string(limits.nameCharsMax, 1);
const address = t.string(limits.nameCharsMax, 1);
const version = t.int(0, Number.MAX_SAFE_INTEGER);
const shard = t.int(0, limits.storageShardsMax);
/** A stored value: any msgpack value but nil, at most storageValueBytesMax encoded. */
const value = t.value;

export const consistency = t.oneOf(["linearizable", "gossip"]);
export type Consistency = Infer<typeof consistency>;

/**
 * Gossip mode: what the client has seen, as "shard/replica" → Lamport stamp (the vectors of the
 * replicas that answered it, per shard), so a read never goes back for it. A replica whose vector
 * is behind it pulls from its peers, then answers UNAVAILABLE if still behind.
 */
const session = t.optional(t.record(t.int(0, Number.MAX_SAFE_INTEGER), limits.storageSessionStampsMax));

/** Gossip mode: per origin replica id, a Lamport stamp (see gossip.digest). */
const knownStamps = t.record(t.int(0, Number.MAX_SAFE_INTEGER), limits.storageGroupMembersMax * 4);
/** Gossip mode: one update, [key, version, replica that wrote it, its Lamport stamp, value]. */
export const gossipUpdate = t.tuple([key, version, nodeId, t.int(0, Number.MAX_SAFE_INTEGER), value], 5);
export type GossipUpdate = Infer<typeof gossipUpdate>;
const txn = t.string(limits.nameCharsMax, 1);

export const placementReply = t.object({
  consistency,
  shards: t.int(1, limits.storageShardsMax),
  replicas: t.int(1, limits.storageGroupMembersMax),
  versionsMax: t.int(1, limits.storageVersionsMaxMax),
  nodes: t.array(t.object({ id: nodeId, address }), limits.storageNodesMax, 1),
  /** Per shard: its replicas and, when this node knows it, its leader (linearizable mode). */
  groups: t.array(t.object({ shard, members: t.array(nodeId, limits.storageGroupMembersMax), leader: t.optional(nodeId) }), limits.storageShardsMax),
});
export type Placement = Infer<typeof placementReply>;

const readOk = t.object({ value: t.any, version, session });
const writeOk = t.object({ version, session });
const condOk = t.object({ applied: t.bool, version, session });

export const storage = protocol("storage", "served by storage nodes; sent by clients (kv.*) and by other storage nodes", {
  "kv.read": request(t.object({ key, version: t.optional(version), session }), readOk, {
    summary: "the newest value of a key, or the version asked for",
    errors: ["NOT_FOUND", "VERSION_GONE", "NOT_LEADER", "UNAVAILABLE"],
  }),
  "kv.write": request(t.object({ key, value, session }), writeOk, {
    summary: "store a new version; the reply carries its number",
    errors: ["NOT_LEADER", "UNAVAILABLE", "LIMIT_EXCEEDED"],
  }),
  "kv.update-if": request(t.object({ key, newValue: value, expected: t.any, session }), condOk, {
    summary: "store newValue only if the current value equals `expected` (the seed's updateIfValueIs)",
    errors: ["NOT_LEADER", "UNAVAILABLE", "LIMIT_EXCEEDED"],
  }),
  "kv.cas": request(t.object({ key, newValue: value, version, session }), condOk, {
    summary: "store newValue only if the current version is `version` (0: the key does not exist), as etcd's mod_revision compare",
    errors: ["NOT_LEADER", "UNAVAILABLE", "LIMIT_EXCEEDED"],
  }),
  "kv.placement": request(t.object({}), placementReply, { summary: "the cluster: nodes, shards, each shard's replicas and leader; clients route with it" }),
  "kv.watch": request(t.object({ key }), t.object({}), {
    summary: "follow a key: kv.changed is sent on this connection for every new version applied here (watch at the shard's leader)",
    errors: ["NOT_LEADER", "UNAVAILABLE", "LIMIT_EXCEEDED"],
  }),
  "kv.unwatch": request(t.object({ key }), t.object({}), { summary: "stop following a key" }),
  raft: message(t.object({ node: nodeId, address, messages: t.array(t.object({ shard, message: raftMessage }), limits.raftMessagesPerFrameMax, 1) }), {
    summary: "Raft messages of several shards' groups from one storage node (`node`, reachable at `address`) to another, gathered per turn",
  }),
  "storage.status": request(t.object({}), t.object({
    /** This node's id (`id` is the envelope's). */
    node: nodeId,
    consistency,
    /** Per group on this node (shards, and the meta group as shard = storageShardsMax): its Raft state, as this node sees it. */
    groups: t.array(t.object({
      shard: t.int(0, limits.storageShardsMax),
      role: t.string(limits.nameCharsMax),
      term: version,
      leader: t.optional(nodeId),
      commit: version,
      applied: version,
      lastIndex: version,
      voters: t.array(nodeId, limits.storageGroupMembersMax),
      learners: t.array(nodeId, limits.storageGroupMembersMax),
      keys: version,
    }), limits.storageShardsMax + 1),
  }), { summary: "this node's view of its groups (operators, tests): role, term, commit and applied indexes, members" }),
  "storage.join": request(t.object({ node: nodeId, address }), t.object({}), {
    summary: "a node asks to join the cluster; answered once the membership change is committed (shards then move to it)",
    errors: ["NOT_LEADER", "UNAVAILABLE", "PRECONDITION_FAILED"],
  }),
  "storage.remove": request(t.object({ node: nodeId }), t.object({}), {
    summary: "take a node out of the cluster; answered once committed (its shards then move off it)",
    errors: ["NOT_LEADER", "UNAVAILABLE", "NOT_FOUND"],
  }),
  "gossip.digest": request(t.object({ shard, known: knownStamps }), t.object({ updates: t.array(gossipUpdate, limits.gossipUpdatesPerFrameMax), known: knownStamps }), {
    summary: "gossip mode, anti-entropy pull: `known` is the asker's vector (per origin replica, the stamp up to which it holds all of that replica's updates); the reply carries every update the asker lacks (oldest stamps first, bounded) and the vector the asker may adopt once it applied them. A digest with `known: {}` dumps the shard (tests, operators)",
  }),
  "gossip.push": message(t.object({ shard, updates: t.array(gossipUpdate, limits.gossipUpdatesPerFrameMax), known: knownStamps }), {
    summary: "gossip mode, anti-entropy push: what the receiver lacks according to the vector in its digest reply (the same fields as that reply)",
  }),
  "tpc.prepare": request(t.object({ shard, txn, key, version, replica: t.string(limits.nameCharsMax) }), t.object({ vote: t.bool, version }), {
    summary: "gossip mode, updateIfValueIs/cas phase 1: lock the key (for gossipLockMs at most) if this replica's newest version of it is (version, replica) (replica \"\" and version 0: no version)",
  }),
  "tpc.decide": request(t.object({ shard, txn, key, commit: t.bool, update: t.optional(gossipUpdate) }), t.object({}), {
    summary: "gossip mode, phase 2: apply `update` (commit) or nothing (abort), and unlock the key",
  }),
});

/** What a node sends a watcher. */
export const storageClient = protocol("storage.client", "sent by storage nodes; served by clients that watch", {
  "kv.changed": message(t.object({ key, version, value: t.any }), { summary: "a watched key has a new version" }),
});

export type ReadOk = ReplyOf<typeof storage, "kv.read">;
export type StorageStatus = ReplyOf<typeof storage, "storage.status">;
export type CondOk = ReplyOf<typeof storage, "kv.cas">;
