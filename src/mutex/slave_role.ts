// `./node --role slave --connect broker [--id name]`: wait for the round, ask to write, append a
// random integer (0–1000) when granted, keep the list in the fanout's order, print it at the end.
// If the leader dies, the lowest live slave id takes over as leader (see Leadership).

import type { FanoutMessage, SlaveResult, ToLeader } from "../../protocols/mutex.ts";
import { MUTEX_FANOUT, MUTEX_REQUESTS } from "../../protocols/mutex.ts";
import type { RoleSpec } from "../cli/role.ts";
import { crashNow, failpoint } from "../failpoints.ts";
import { Leadership } from "./leadership.ts";
import { joinRound, type Participant } from "./participant.ts";
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
    const request = (state: RoundState): void => {
      if (!state.written.has(config.id)) toLeader({ type: "request", slave: config.id, epoch: state.epoch });
    };

    const onMessage = (message: FanoutMessage, change: ReturnType<RoundState["apply"]>): void => {
      const state = p.state;
      leadership?.onApplied(message);
      if (change === "started" || change === "leader") request(state);
      else if (change === "granted" && state.outstanding?.slave === config.id && message.type === "grant") {
        if (failpoint("slave-crash-on-grant") !== undefined) crashNow();
        const value = Math.floor(Math.random() * 1001);
        p.client.publish(MUTEX_FANOUT(round), "", { type: "append", epoch: message.epoch, slave: config.id, seq: message.seq, value });
      } else if (change === "done") {
        const result: SlaveResult = { slave: config.id, list: state.list };
        process.stdout.write(JSON.stringify(result) + "\n");
        log.info("done", { written: state.list.length });
        void p.client.close().then(() => finish(0));
      }
    };

    p = await joinRound(config, round, onMessage);
    p.live.onLeave((event) => {
      leadership?.onLeave(event.node);
      const leaderGone = event.node === p.state.leader || (event.role === "leader" && p.state.leader === "") || event.role === "leader";
      if (!leaderGone || leadership !== null || p.state.done) return;
      // Election: every slave sees the same membership events, so all compute the same winner.
      if (p.live.lowest() !== config.id) return;
      log.warn("taking-over", { deadLeader: event.node, epoch: p.state.epoch + 1 });
      leadership = new Leadership({ client: p.client, round, self: config.id, state: p.state, live: p.live, log, expected: null });
      void leadership.begin(true);
    });
    toLeader({ type: "ready", slave: config.id });
    log.info("ready", { round });
    void p.brokerLost.then((why) => {
      if (p.state.done) return;
      process.stderr.write(`peer-node: slave ${config.id}: ${why}; exiting\n`);
      finish(3);
    });
    return { done, stop: () => p.client.close() };
  },
};
