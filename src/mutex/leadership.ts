// The leader's job, for the leader role and for a slave that takes over after the leader died:
// collect requests, grant one requester at random once every live slave that still has to write
// has asked, revoke the grant of a slave that died holding it, and announce done when every live
// slave has written. It acts only on what it has seen come back through its own fanout queue, so
// its decisions follow the same total order as everybody's lists.
//
// Epochs come from the broker's atomic incr, so a new leader's epoch is above every earlier one
// even before it has read the whole retained fanout. A new leader decides nothing until its own
// "leader" message has come back: by then everything before it in the total order is applied.

import type { FanoutMessage, Grant, ToLeader } from "../../protocols/mutex.ts";
import { MUTEX_CONTROL, MUTEX_FANOUT, MUTEX_INBOX, MUTEX_REQUESTS } from "../../protocols/mutex.ts";
import type { BrokerClient } from "../broker/broker_client.ts";
import type { Logger } from "../runtime/log.ts";
import type { LiveMembers } from "./live_slaves.ts";
import type { RoundState } from "./round_state.ts";

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
}

export class Leadership {
  private readonly ready = new Set<string>();
  private readonly pending = new Set<string>();
  /** A message of ours is on its way through the fanout; decide nothing until it is back. */
  private awaiting: FanoutMessage["type"] | null = null;
  private seq: number;
  private doneSent = false;
  private grants = 0;
  private epoch = 0;
  /** A takeover cannot see the requests the old leader consumed: every live slave still to write counts as asking. */
  private assumeRequested = false;

  constructor(private readonly o: LeadershipOptions) {
    this.seq = o.state.lastSeq;
  }

  async begin(takeover: boolean): Promise<void> {
    const { client, round } = this.o;
    this.epoch = await client.incr(`${round}.epoch`);
    this.assumeRequested = takeover;
    await client.consume(MUTEX_REQUESTS(round), (d) => this.onRequest(d.body as ToLeader), { autoAck: true });
    if (takeover) {
      this.o.log.warn("leading", { epoch: this.epoch });
      this.publish({ type: "leader", epoch: this.epoch, leader: this.o.self });
    } else {
      this.step();
    }
  }

  /** Called by the owner after each fanout message was applied to the shared state. */
  onApplied(message: FanoutMessage): void {
    if (this.awaiting === message.type && (message.type !== "grant" || message.seq === this.seq)) this.awaiting = null;
    if (message.type === "leader" || message.type === "start") {
      for (const slave of this.o.state.written) this.pending.delete(slave);
    }
    if (message.type === "append") this.pending.delete(message.slave);
    this.step();
  }

  /** A member left (closed or dead). */
  onLeave(node: string): void {
    this.pending.delete(node);
    this.ready.delete(node);
    const grant = this.o.state.outstanding;
    if (grant !== null && grant.slave === node && this.awaiting === null) {
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
    if (this.awaiting !== null || this.doneSent) return;
    if (this.epoch === 0) return; // begin() has not got its epoch yet
    if (!state.started) {
      if (this.o.expected === null) this.publish({ type: "start", epoch: this.epoch, leader: this.o.self, slaves: [...live.slaves].sort() });
      else if (this.ready.size >= this.o.expected) this.publish({ type: "start", epoch: this.epoch, leader: this.o.self, slaves: [...this.ready].sort() });
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
      // Slaves read their fanout queue when told; this wakes them all once.
      void this.o.client.publishChannel(MUTEX_CONTROL(this.o.round), { type: "done" }).catch(() => {});
      return;
    }
    // As in the seed: choose among all who still have to write, once all of them have asked.
    if (!this.assumeRequested && !toWrite.every((s) => this.pending.has(s))) return;
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

  private publish(message: FanoutMessage): void {
    this.awaiting = message.type;
    this.o.client.publish(MUTEX_FANOUT(this.o.round), "", message);
  }
}
