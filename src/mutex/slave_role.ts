// `./node --role slave --connect broker [--id name]`: say ready and ask to write; when a grant
// arrives in the inbox, append a random integer (0–1000) to the fanout; when done is announced,
// read the fanout queue (the round's total order, retained by the broker) into the list and print
// it. If the leader dies, the live slave that joined first takes over as leader, and if that one
// dies, the next (see LiveMembers for the rule, Leadership for the job).

import { controlMessage, fanoutMessage, MUTEX_CONTROL, MUTEX_FANOUT, MUTEX_INBOX, MUTEX_REQUESTS, type FanoutMessage, type Grant, type SlaveResult, type ToLeader } from "../../protocols/mutex.ts";
import { parsed } from "../../protocols/schema.ts";
import { crashNow, failpoint, hangNow } from "../failpoints.ts";
import { limits } from "../limits.ts";
import { RoleLife, type RoleSpec } from "../runtime/role.ts";
import { Leadership, type TakeoverStep } from "./leadership.ts";
import { joinRound, type Participant } from "./participant.ts";
import type { RoundState } from "./round_state.ts";

export const slaveRole: RoleSpec = {
  name: "slave",
  summary: "mutual exclusion: asks the leader to write, appends a random number when granted, prints the shared list",
  flags: [{ name: "round", type: "string", valueName: "name", help: `name of the round, to run several on one broker (default ${limits.mutexRoundDefault})` }],
  defaultListen: null,
  needsConnect: true,
  async start(config, flags) {
    const round = flags.string("round") ?? limits.mutexRoundDefault;
    const { log } = config;
    const life = new RoleLife();
    let leadership: Leadership | null = null;

    const toLeader = (message: ToLeader): void => void p.client.sendToQueue(MUTEX_REQUESTS(round), message);

    const onFanout = (message: FanoutMessage, change: ReturnType<RoundState["apply"]>): void => {
      leadership?.onApplied(message);
      if (change !== "done") return;
      const result: SlaveResult = { slave: config.id, list: p.state.list };
      config.terminal.line(JSON.stringify(result));
      log.info("done", { written: p.state.list.length });
      life.stopping = true;
      void p.client.close().then(() => life.end("ok"));
    };

    const onGrant = (grant: Grant): void => {
      if (failpoint("slave-crash-on-grant") !== undefined) crashNow();
      // Validity is decided by everybody alike when the fanout is read: an append for a grant
      // that was voided meanwhile (revoke, new leader) is ignored there.
      const value = Math.floor(Math.random() * (limits.mutexValueMax + 1));
      p.client.publish(MUTEX_FANOUT(round), "", { type: "append", epoch: grant.epoch, slave: config.id, seq: grant.seq, value } satisfies FanoutMessage);
    };

    // acting-leader-crash-at / acting-leader-hang-at = decided|epoch|announced|granted: die, or
    // stop as SIGSTOP would, at that point of a takeover.
    const crashAt = failpoint("acting-leader-crash-at");
    const hangAt = failpoint("acting-leader-hang-at");
    const takeoverStep = (step: TakeoverStep | "decided"): void => {
      if (crashAt === step) crashNow();
      if (hangAt === step) hangNow();
    };
    const takeOver = (after: string | undefined): void => {
      log.warn("taking-over", { after: after ?? "none" });
      takeoverStep("decided");
      leadership = new Leadership({ client: p.client, round, self: config.id, state: p.state, live: p.live, log, expected: null, onTakeoverStep: takeoverStep });
      void p.readFanout().then(() => leadership!.begin(true));
    };

    const p: Participant = await joinRound(config, life, round, onFanout);
    const inbox = await p.client.declareQueue(MUTEX_INBOX(round, config.id), { exclusive: true });
    await p.client.consume(inbox, (d) => {
      const grant = parsed(fanoutMessage, d.body);
      if (grant?.type === "grant") onGrant(grant);
    }, { autoAck: true });
    // Done is announced here only once it is in the fanout, and before its sender leaves: the
    // leaves of slaves exiting after done (the acting leader among them) start no election.
    let roundOver = false;
    await p.client.subscribe(MUTEX_CONTROL(round), (body) => {
      if (parsed(controlMessage, body) === undefined) return;
      roundOver = true;
      void p.readFanout();
    });
    p.live.onLeave((event) => leadership?.onLeave(event.node));
    // Election: every participant sees the same membership in the same order, so each knows at
    // every moment who leads, and a slave acts when that becomes itself. Whoever the leader
    // becomes, this slave says ready to it again: a takeover before the start waits for that.
    let acting = p.live.actingSlave();
    p.live.onChange((event) => {
      const now = p.live.actingSlave();
      if (now === acting || leadership !== null || life.ended || roundOver || p.state.done) return;
      acting = now;
      if (now === config.id) takeOver(event.node);
      else if (now !== undefined) toLeader({ type: "ready", slave: config.id });
    });
    if (failpoint("slave-hang-before-request") !== undefined) {
      // Make sure "ready" reached the broker (a confirmed publish), then hang before asking to write.
      await p.client.publishConfirmed("", MUTEX_REQUESTS(round), { type: "ready", slave: config.id } satisfies ToLeader);
      log.info("ready", { round });
      hangNow();
      await new Promise(() => {});
    }
    toLeader({ type: "ready", slave: config.id });
    log.info("ready", { round });
    toLeader({ type: "request", slave: config.id, epoch: 0 });
    // The leader died (and those after it) before we were listening: it may be our turn already.
    if (acting === config.id) takeOver(undefined);
    return {
      done: life.done,
      stop: () => {
        life.stopping = true;
        return p.client.close();
      },
    };
  },
};
