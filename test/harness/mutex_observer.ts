// An independent judge of a mutual-exclusion round, for tests and the torture: a client bound to
// the round's fanout before anybody else, folding the messages with its own small copy of the
// rule in protocols/mutex.md (not src/mutex/round_state.ts, the code under test).

import { fanoutMessage, MUTEX_FANOUT, type FanoutMessage } from "../../protocols/mutex.ts";
import { parsed } from "../../protocols/schema.ts";
import { BrokerClient } from "../../src/broker/broker_client.ts";

/** The rule, as the spec states it: an append counts iff it answers the open grant and its slave has not written. */
export class MutexReference {
  private epoch = 0;
  private started = false;
  private open: { slave: string; seq: number } | null = null;
  /** The slaves named by the first start. */
  roster: string[] = [];
  readonly list: number[] = [];
  /** Who wrote, in list order. */
  readonly writers: string[] = [];
  /** The list when the first done arrived (slaves print that one), and what done claimed. */
  doneList: number[] | null = null;
  doneCount: number | null = null;
  readonly messages: FanoutMessage[] = [];

  apply(m: FanoutMessage): void {
    this.messages.push(m);
    if (m.type === "start" && !this.started) {
      // The first start names the round, also after a takeover's leader message (same epoch).
      this.started = true;
      this.epoch = m.epoch;
      this.roster = [...m.slaves];
    } else if (m.type === "leader" && m.epoch > this.epoch) {
      this.epoch = m.epoch;
      this.open = null;
    } else if (m.type === "grant" && m.epoch === this.epoch && !this.writers.includes(m.slave)) {
      this.open = { slave: m.slave, seq: m.seq };
    } else if (m.type === "revoke" && m.epoch === this.epoch && this.isOpen(m.slave, m.seq)) {
      this.open = null;
    } else if (m.type === "append" && m.epoch === this.epoch && this.isOpen(m.slave, m.seq) && !this.writers.includes(m.slave)) {
      this.list.push(m.value);
      this.writers.push(m.slave);
      this.open = null;
    } else if (m.type === "done" && this.doneList === null) {
      this.doneList = [...this.list];
      this.doneCount = m.count;
    }
  }

  private isOpen(slave: string, seq: number): boolean {
    return this.open !== null && this.open.slave === slave && this.open.seq === seq;
  }
}

export class MutexObserver {
  readonly reference = new MutexReference();
  started = false;

  private constructor(readonly client: BrokerClient) {}

  /** Connect and bind before any leader or slave exists, so the whole round is seen. */
  static async start(address: string, round = "mutex"): Promise<MutexObserver> {
    const client = await BrokerClient.connect(address, { role: "observer", heartbeatMs: 0, lostWindowMs: 0 });
    const observer = new MutexObserver(client);
    await client.declareExchange(MUTEX_FANOUT(round), "fanout");
    const queue = await client.declareQueue();
    await client.bindQueue(queue, MUTEX_FANOUT(round));
    await client.consume(queue, (d) => {
      const message = parsed(fanoutMessage, d.body);
      if (message === undefined) return;
      if (message.type === "start") observer.started = true;
      observer.reference.apply(message);
    }, { autoAck: true });
    return observer;
  }

  /** Appends counted so far. */
  get appended(): number {
    return this.reference.list.length;
  }

  get done(): boolean {
    return this.reference.doneList !== null;
  }

  close(): Promise<void> {
    return this.client.close().catch(() => {});
  }
}
