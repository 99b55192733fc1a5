// The leader's job, for the leader role and for a slave that takes over after the leader died:
// collect requests, grant one requester at random once every live slave that still has to write
// has asked, revoke the grant of a slave that died holding it, and announce done when every live
// slave has written. It acts only on what it has seen come back through its own fanout queue, so
// its decisions follow the same total order as everybody's lists.
//
// Epochs come from the broker's atomic incr, so a new leader's epoch is above every earlier one
// even before it has read the whole retained fanout. A new leader decides nothing until its own
// "leader" message has come back: by then everything before it in the total order is applied.

import { toLeader, type FanoutMessage, type Grant, type ToLeader } from "../../protocols/mutex.ts";
import { parsed } from "../../protocols/schema.ts";
import { MUTEX_CONTROL, MUTEX_EPOCH, MUTEX_FANOUT, MUTEX_INBOX, MUTEX_REQUESTS, type controlMessage } from "../../protocols/mutex.ts";
import type { Infer } from "../../protocols/schema.ts";
import type { BrokerClient } from "../broker/broker_client.ts";
import type { Logger } from "../runtime/log.ts";
import type { LiveMembers } from "./live_slaves.ts";
import type { RoundState } from "./round_state.ts";

/** Points of a takeover a failpoint can stop at (acting-leader-crash-at=<step>). */
export type TakeoverStep = "epoch" | "announced" | "granted";

export interface LeadershipOptions {
  client: BrokerClient;
  round: string;
  self: string;
  state: RoundState;
  live: LiveMembers;
  log: Logger;
  /** Slaves to wait for before starting (a fresh leader); null when taking over a started round. */
  expected: number | null;
  /** Called after each grant is published (the leader role's failpoint hooks in here). */
  onGrant?: (grants: number) => void;
  /** Called at each step of a takeover (a failpoint hooks in here). */
  onTakeoverStep?: (step: TakeoverStep) => void;
}

export class Leadership {
  private readonly ready = new Set<string>();
  private readonly pending = new Set<string>();
  /**
   * Our own message on its way through the fanout, by its identity (messageKey): decide nothing
   * until that very one is back. Another leader's message of the same type is not ours.
   */
  private awaiting: string | null = null;
  private seq: number;
  private doneSent = false;
  private wokeSlaves = false;
  /** A newer leader took over: this one decides nothing more. */
  private resigned = false;
  private grants = 0;
  private epoch = 0;
  private takeover = false;
  private requestsTag: string | null = null;

  constructor(private readonly o: LeadershipOptions) {
    this.seq = o.state.lastSeq;
  }

  async begin(takeover: boolean): Promise<void> {
    const { client, round } = this.o;
    this.takeover = takeover;
    this.epoch = await client.incr(MUTEX_EPOCH(round));
    if (takeover) this.o.onTakeoverStep?.("epoch");
    // A takeover cannot see the readies and requests the old leader consumed: slaves send ready
    // again when the leader changes, and every live slave still to write counts as asking.
    if (takeover) this.ready.add(this.o.self);
    this.requestsTag = await client.consume(MUTEX_REQUESTS(round), (d) => {
      const message = parsed(toLeader, d.body);
      if (message === undefined) return this.o.log.warn("request-ignored", { body: typeof d.body });
      this.onRequest(message);
    }, { autoAck: true });
    if (takeover) {
      this.o.log.warn("leading", { epoch: this.epoch });
      this.publish({ type: "leader", epoch: this.epoch, leader: this.o.self });
    } else {
      this.step();
    }
  }

  /** Called by the owner after each fanout message was applied to the shared state. */
  onApplied(message: FanoutMessage): void {
    const mine = this.awaiting !== null && this.awaiting === messageKey(message);
    if (mine) this.awaiting = null;
    if (message.type === "leader" && message.leader !== this.o.self && message.epoch > this.epoch && this.epoch > 0) this.resign(message);
    if (message.type === "done") this.wakeSlaves();
    if (mine && this.takeover) {
      if (message.type === "leader") this.o.onTakeoverStep?.("announced");
      if (message.type === "grant") this.o.onTakeoverStep?.("granted");
    }
    if (message.type === "leader" || message.type === "start") {
      for (const slave of this.o.state.written) this.pending.delete(slave);
    }
    if (message.type === "append") this.pending.delete(message.slave);
    this.step();
  }

  /** A member left (closed or dead). */
  onLeave(node: string): void {
    // Its ready stays: a fresh leader waits for N slaves to have said ready, dead or alive since;
    // a dead one is simply never granted (it is not live).
    this.pending.delete(node);
    const grant = this.o.state.outstanding;
    if (grant !== null && grant.slave === node && this.awaiting === null && !this.resigned && !this.o.state.done) {
      this.o.log.warn("granted-slave-died", { slave: node, seq: grant.seq });
      this.publish({ type: "revoke", epoch: this.o.state.epoch, slave: node, seq: grant.seq });
      return;
    }
    this.step();
  }

  private onRequest(message: ToLeader): void {
    if (message.type === "ready") {
      this.ready.add(message.slave);
      this.step();
      return;
    }
    if (message.type === "request" && !this.o.state.written.has(message.slave) && this.o.live.slaves.has(message.slave)) {
      this.pending.add(message.slave);
      this.step();
    }
  }

  private step(): void {
    const { state, live } = this.o;
    if (this.awaiting !== null || this.doneSent || this.resigned || state.done) return;
    if (this.epoch === 0) return; // begin() has not got its epoch yet
    if (!state.started) {
      if (this.o.expected !== null) {
        if (this.ready.size >= this.o.expected) this.publish({ type: "start", epoch: this.epoch, leader: this.o.self, slaves: [...this.ready].sort() });
        return;
      }
      // A takeover starts the round with the live slaves once each has said ready (again): ready
      // means its fanout queue is bound, so it will see the start and print the same list.
      if (live.slaves.size > 0 && [...live.slaves].every((s) => this.ready.has(s))) {
        this.publish({ type: "start", epoch: this.epoch, leader: this.o.self, slaves: [...live.slaves].sort() });
      }
      return;
    }
    if (state.outstanding !== null) {
      // A grant whose holder already died (its leave came before the grant came back): void it.
      if (!live.slaves.has(state.outstanding.slave)) this.onLeave(state.outstanding.slave);
      return;
    }
    const toWrite = [...live.slaves].filter((s) => state.slaves.includes(s) && !state.written.has(s));
    if (toWrite.length === 0) {
      this.doneSent = true;
      this.publish({ type: "done", epoch: state.epoch, count: state.list.length });
      return;
    }
    // As in the seed: choose among all who still have to write, once all of them have asked.
    if (!this.takeover && !toWrite.every((s) => this.pending.has(s))) return;
    const chosen = toWrite[Math.floor(Math.random() * toWrite.length)]!;
    this.pending.delete(chosen);
    this.seq++;
    this.grants++;
    const grant: Grant = { type: "grant", epoch: state.epoch, slave: chosen, seq: this.seq };
    this.publish(grant);
    // After the fanout copy, in the same batch: the granted slave's append cannot precede its grant.
    this.o.client.sendToQueue(MUTEX_INBOX(this.o.round, chosen), grant);
    this.o.onGrant?.(this.grants);
  }

  /**
   * Slaves read their fanout queue when told; this wakes them all once. Sent when done has come
   * back, by whichever leader reads it: a takeover that finds done already there (its predecessor
   * died between the two) wakes the slaves that were never told.
   */
  private wakeSlaves(): void {
    if (this.wokeSlaves) return;
    this.wokeSlaves = true;
    void this.o.client.publishChannel(MUTEX_CONTROL(this.o.round), { type: "done" } satisfies Infer<typeof controlMessage>).catch(() => {});
  }

  /** Only one leader decides: an older one that sees a newer one's epoch stops (and stops taking requests). */
  private resign(newer: Extract<FanoutMessage, { type: "leader" }>): void {
    if (this.resigned) return;
    this.resigned = true;
    this.o.log.warn("resigning", { epoch: this.epoch, newer: newer.leader, newerEpoch: newer.epoch });
    if (this.requestsTag !== null) void this.o.client.cancel(this.requestsTag).catch(() => {});
  }

  private publish(message: FanoutMessage): void {
    this.awaiting = messageKey(message);
    this.o.client.publish(MUTEX_FANOUT(this.o.round), "", message);
  }
}

/** What tells one fanout message of ours from any other: its type and the fields that make it unique. */
function messageKey(message: FanoutMessage): string {
  switch (message.type) {
    case "start":
    case "leader":
      return `${message.type}/${message.epoch}/${message.leader}`;
    case "grant":
    case "revoke":
      return `${message.type}/${message.epoch}/${message.slave}/${message.seq}`;
    case "append":
      return `${message.type}/${message.epoch}/${message.slave}/${message.seq}`;
    case "done":
      return `${message.type}/${message.epoch}/${message.count}`;
  }
}
