// The mutual-exclusion protocol, carried over the broker. Spec: protocols/mutex.md.
//
// Every participant binds an exclusive queue to the fanout exchange; the fanout's order is the one
// total order everybody applies. Slaves send ready and request messages to the leader's request
// queue. The leader reads the fanout as it happens; a slave lets its fanout queue fill during the
// round and reads it when told (done, or when it takes over as leader), so a grant wakes only the
// leader and the granted slave, not all N processes. The granted slave learns of its grant through
// its inbox queue; done (and takeovers) are also announced on the control channel.

/** Fanout exchange that carries the round's total order. */
export const MUTEX_FANOUT = (round: string): string => `${round}.fanout`;
/** Work queue where slaves send ready and request messages to whoever is leader. */
export const MUTEX_REQUESTS = (round: string): string => `${round}.requests`;
/** A slave's own queue for the grants addressed to it. */
export const MUTEX_INBOX = (round: string, slave: string): string => `${round}.inbox.${slave}`;
/** Pub/sub channel that wakes every slave for done and leader changes. */
export const MUTEX_CONTROL = (round: string): string => `${round}.control`;

// ---- slave → leader (request queue) --------------------------------------------------------

/** The slave has bound its fanout queue and is listening. */
export interface Ready { type: "ready"; slave: string }
/** The slave wants to write (it has not written yet). */
export interface WriteRequest { type: "request"; slave: string; epoch: number }
export type ToLeader = Ready | WriteRequest;

// ---- on the fanout, in total order ---------------------------------------------------------

/** The leader announces the round: how many slaves, which ones. */
export interface Start { type: "start"; epoch: number; leader: string; slaves: string[] }
/** Slave `slave` may append now; `seq` identifies this grant. */
export interface Grant { type: "grant"; epoch: number; slave: string; seq: number }
/** The granted slave appends its number. Counts only for the outstanding grant (see RoundState). */
export interface Append { type: "append"; epoch: number; slave: string; seq: number; value: number }
/** The granted slave died before appending: its grant is void. */
export interface Revoke { type: "revoke"; epoch: number; slave: string; seq: number }
/** A new leader took over (the old one died); outstanding grants of older epochs are void. */
export interface NewLeader { type: "leader"; epoch: number; leader: string }
/** Every live slave has written once: print the list and exit. */
export interface Done { type: "done"; epoch: number; count: number }
export type FanoutMessage = Start | Grant | Append | Revoke | NewLeader | Done;

/** What a slave prints as its last stdout line, and `run mutex --json` collects. */
export interface SlaveResult { slave: string; list: number[] }
