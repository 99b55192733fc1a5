// The state of one mutual-exclusion round, as every participant computes it from the fanout's
// total order. It is a pure function of the message sequence, so the leader and all slaves, fed
// the same sequence, hold identical lists: that is the whole correctness argument.
//
// Rules: an append counts iff it is for the outstanding grant (same epoch, slave and seq) and that
// slave has not written yet. A revoke voids the outstanding grant; so does a new leader's epoch.
// An append arriving after its grant was voided is ignored by everybody alike.

import type { FanoutMessage } from "../../protocols/mutex.ts";

export class RoundState {
  epoch = 0;
  leader = "";
  slaves: string[] = [];
  started = false;
  done = false;
  readonly list: number[] = [];
  readonly written = new Set<string>();
  /** The grant that may still append, if any. */
  outstanding: { slave: string; seq: number } | null = null;
  /** Highest grant seq seen, so a new leader continues the numbering. */
  lastSeq = 0;

  /** Apply one fanout message; returns what changed, for the caller to react to. */
  apply(message: FanoutMessage): "started" | "granted" | "appended" | "ignored" | "revoked" | "leader" | "done" {
    switch (message.type) {
      case "start":
        if (this.started) return "ignored";
        this.started = true;
        this.epoch = message.epoch;
        this.leader = message.leader;
        this.slaves = [...message.slaves];
        return "started";
      case "leader":
        if (message.epoch <= this.epoch) return "ignored";
        this.epoch = message.epoch;
        this.leader = message.leader;
        this.outstanding = null;
        return "leader";
      case "grant":
        if (message.epoch !== this.epoch || this.written.has(message.slave)) return "ignored";
        this.outstanding = { slave: message.slave, seq: message.seq };
        this.lastSeq = Math.max(this.lastSeq, message.seq);
        return "granted";
      case "append": {
        const grant = this.outstanding;
        if (message.epoch !== this.epoch || grant === null || grant.slave !== message.slave || grant.seq !== message.seq || this.written.has(message.slave)) return "ignored";
        this.list.push(message.value);
        this.written.add(message.slave);
        this.outstanding = null;
        return "appended";
      }
      case "revoke":
        if (message.epoch !== this.epoch || this.outstanding?.slave !== message.slave || this.outstanding.seq !== message.seq) return "ignored";
        this.outstanding = null;
        return "revoked";
      case "done":
        this.done = true;
        return "done";
    }
  }
}
