// `./node --role slave --connect broker [--id name]`: say ready and ask to write; when a grant
// arrives in the inbox, append a random integer (0–1000) to the fanout; when done is announced,
// read the fanout queue (the round's total order, retained by the broker) into the list and print
// it. If the leader dies, the lowest live slave id takes over as leader (see Leadership).

import type { FanoutMessage, Grant, SlaveResult, ToLeader } from "../../protocols/mutex.ts";
import { MUTEX_CONTROL, MUTEX_FANOUT, MUTEX_INBOX, MUTEX_REQUESTS } from "../../protocols/mutex.ts";
import type { RoleSpec } from "../cli/role.ts";
import { crashNow, failpoint, hangNow } from "../failpoints.ts";
import { Leadership } from "./leadership.ts";
import { exitOnBrokerLoss, joinRound, type Participant } from "./participant.ts";
import type { RoundState } from "./round_state.ts";

export const ROUND_DEFAULT = "mutex";

export const slaveRole: RoleSpec = {
  name: "slave",
  summary: "mutual exclusion: asks the leader to write, appends a random number when granted, prints the shared list",
  flags: [{ name: "round", type: "string", valueName: "name", help: `name of the round, to run several on one broker (default ${ROUND_DEFAULT})` }],
  defaultListen: null,
  needsConnect: true,
  async start(config, flags) {
    const round = flags.string("round") ?? ROUND_DEFAULT;
    const { log } = config;
    let finish!: (code: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));
    let leadership: Leadership | null = null;
    let p!: Participant;

    const toLeader = (message: ToLeader): void => void p.client.sendToQueue(MUTEX_REQUESTS(round), message);

    const onFanout = (message: FanoutMessage, change: ReturnType<RoundState["apply"]>): void => {
      leadership?.onApplied(message);
      if (change !== "done") return;
      const result: SlaveResult = { slave: config.id, list: p.state.list };
      process.stdout.write(JSON.stringify(result) + "\n");
      log.info("done", { written: p.state.list.length });
      void p.client.close().then(() => finish(0));
    };

    const onGrant = (grant: Grant): void => {
      if (failpoint("slave-crash-on-grant") !== undefined) crashNow();
      // Validity is decided by everybody alike when the fanout is read: an append for a grant
      // that was voided meanwhile (revoke, new leader) is ignored there.
      const value = Math.floor(Math.random() * 1001);
      p.client.publish(MUTEX_FANOUT(round), "", { type: "append", epoch: grant.epoch, slave: config.id, seq: grant.seq, value });
    };

    p = await joinRound(config, round, onFanout);
    const inbox = await p.client.declareQueue(MUTEX_INBOX(round, config.id), { exclusive: true });
    await p.client.consume(inbox, (d) => onGrant(d.body as Grant), { autoAck: true });
    await p.client.subscribe(MUTEX_CONTROL(round), () => void p.readFanout());
    p.live.onLeave((event) => {
      leadership?.onLeave(event.node);
      const leaderGone = event.role === "leader" || (event.node === p.state.leader && event.node !== config.id);
      if (!leaderGone || leadership !== null || p.state.done) return;
      // Election: every slave sees the same membership events, so all compute the same winner.
      if (p.live.lowest() !== config.id) return;
      log.warn("taking-over", { deadLeader: event.node });
      leadership = new Leadership({ client: p.client, round, self: config.id, state: p.state, live: p.live, log, expected: null });
      void p.readFanout().then(() => leadership!.begin(true));
    });
    toLeader({ type: "ready", slave: config.id });
    log.info("ready", { round });
    if (failpoint("slave-hang-before-request") !== undefined) {
      // Flush "ready" (written at the end of this turn), then hang before asking to write.
      setImmediate(hangNow);
      await new Promise(() => {});
    }
    toLeader({ type: "request", slave: config.id, epoch: 0 });
    return { done, stop: exitOnBrokerLoss(p, `slave ${config.id}`, finish) };
  },
};
