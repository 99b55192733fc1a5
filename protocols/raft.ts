// Raft's messages between the replicas of one group (src/raft/raft_node.ts), as schemas: storage
// nodes carry them in `raft` frames (protocols/storage.ts), each tagged with its group, and check
// them on arrival like every other message. Spec: protocols/storage.md, "Replication".

import { limits } from "../src/limits.ts";
import { t, type Infer } from "./schema.ts";

const nodeId = t.string(limits.nameCharsMax, 1);
const index = t.int(0, Number.MAX_SAFE_INTEGER);
const term = t.int(0, Number.MAX_SAFE_INTEGER);

export const membership = t.object({
  voters: t.array(nodeId, limits.storageGroupMembersMax, 1),
  learners: t.array(nodeId, limits.storageGroupMembersMax),
});

/** One log entry: a command (normal), a membership (config), or a new leader's no-op. */
export const raftEntry = t.object({
  index,
  term,
  kind: t.oneOf(["normal", "config", "noop"]),
  data: t.any,
});
export type RaftEntry = Infer<typeof raftEntry>;

/** The state machine at `index`, with the membership then in force. */
export const raftSnapshot = t.object({ index, term, membership, data: t.any });
export type RaftSnapshot = Infer<typeof raftSnapshot>;

const envelope = { term, from: nodeId, to: nodeId };

export const raftMessage = t.union("type", {
  /** A (pre-)vote request; `force` (a leadership transfer) overrides a follower's leader lease. */
  vote: t.object({ ...envelope, lastIndex: index, lastTerm: term, preVote: t.bool, force: t.optional(t.bool) }),
  "vote-reply": t.object({ ...envelope, granted: t.bool, preVote: t.bool }),
  /** Entries after prevIndex (none: a heartbeat); `readId` asks for a ReadIndex confirmation; `probe`: tell me your end. */
  append: t.object({
    ...envelope,
    prevIndex: index,
    prevTerm: term,
    entries: t.array(raftEntry, limits.raftEntriesPerMessageMax),
    commit: index,
    readId: t.optional(t.int(0, Number.MAX_SAFE_INTEGER)),
    probe: t.optional(t.bool),
  }),
  /** success: the log matches up to matchIndex; otherwise matchIndex hints where it may. */
  "append-reply": t.object({ ...envelope, success: t.bool, matchIndex: index, readId: t.optional(t.int(0, Number.MAX_SAFE_INTEGER)) }),
  snapshot: t.object({ ...envelope, snapshot: raftSnapshot }),
  "snapshot-reply": t.object({ ...envelope, index }),
  /** Leadership transfer: start an election now. */
  "timeout-now": t.object({ ...envelope }),
});
export type RaftMessage = Infer<typeof raftMessage>;
