// The mutual-exclusion protocol, carried over the broker: these are message bodies on broker
// queues, exchanges and channels, each with its schema (a participant ignores a body that does not
// match, and so does everybody else: the round state stays a pure function of valid messages).
// Spec: protocols/mutex.md.
//
// Every participant binds an exclusive queue to the fanout exchange; the fanout's order is the one
// total order everybody applies. Slaves send ready and request messages to the leader's request
// queue. The leader reads the fanout as it happens; a slave lets its fanout queue fill during the
// round and reads it when told (done, or when it takes over as leader), so a grant wakes only the
// leader and the granted slave, not all N processes. The granted slave learns of its grant through
// its inbox queue; done (and takeovers) are also announced on the control channel.

import { limits } from "../src/limits.ts";
import { t, type Infer } from "./schema.ts";

/** Fanout exchange that carries the round's total order. */
export const MUTEX_FANOUT = (round: string): string => `${round}.fanout`;
/** Work queue where slaves send ready and request messages to whoever is leader. */
export const MUTEX_REQUESTS = (round: string): string => `${round}.requests`;
/** A slave's own queue for the grants addressed to it. */
export const MUTEX_INBOX = (round: string, slave: string): string => `${round}.inbox.${slave}`;
/** Pub/sub channel that wakes every slave for done and leader changes. */
export const MUTEX_CONTROL = (round: string): string => `${round}.control`;
/** Counter (incr) each leader takes its epoch from. */
export const MUTEX_EPOCH = (round: string): string => `${round}.epoch`;

const id = t.string(limits.nameCharsMax, 1);
const epoch = t.int(0, Number.MAX_SAFE_INTEGER);
const seq = t.int(0, Number.MAX_SAFE_INTEGER);

/** Slave → leader, on the request queue. */
export const toLeader = t.union("type", {
  /** The slave has bound its fanout queue and is listening. */
  ready: t.object({ slave: id }),
  /** The slave wants to write (it has not written yet). */
  request: t.object({ slave: id, epoch }),
});
export type ToLeader = Infer<typeof toLeader>;

/** On the fanout, in total order. */
export const fanoutMessage = t.union("type", {
  /** The leader announces the round: how many slaves, which ones. */
  start: t.object({ epoch, leader: id, slaves: t.array(id, limits.mutexSlavesMax, 1) }),
  /** Slave `slave` may append now; `seq` identifies this grant. */
  grant: t.object({ epoch, slave: id, seq }),
  /** The granted slave appends its number. Counts only for the outstanding grant (see RoundState). */
  append: t.object({ epoch, slave: id, seq, value: t.int(0, limits.mutexValueMax) }),
  /** The granted slave died before appending: its grant is void. */
  revoke: t.object({ epoch, slave: id, seq }),
  /** A new leader took over (the old one died); outstanding grants of older epochs are void. */
  leader: t.object({ epoch, leader: id }),
  /** Every live slave has written once: print the list and exit. */
  done: t.object({ epoch, count: t.int(0, limits.mutexSlavesMax) }),
});
export type FanoutMessage = Infer<typeof fanoutMessage>;
export type Grant = Extract<FanoutMessage, { type: "grant" }>;

/** On the control channel: wakes every slave. */
export const controlMessage = t.union("type", { done: t.object({}) });

/** What a slave prints as its last stdout line, and `run mutex --json` collects. */
export const slaveResult = t.object({ slave: id, list: t.array(t.int(0, limits.mutexValueMax), limits.mutexSlavesMax) });
export type SlaveResult = Infer<typeof slaveResult>;
