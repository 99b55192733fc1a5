// `./node --role leader --slaves N [--embed-broker | --connect broker]`: waits for N slaves, then
// grants one requester at a time at random until every live slave has written once. It writes
// nothing itself and returns nothing.

import { crashNow, failpoint, hangNow } from "../failpoints.ts";
import { limits } from "../limits.ts";
import { UsageError } from "../runtime/exit.ts";
import { RoleLife, type RoleSpec } from "../runtime/role.ts";
import { Leadership } from "./leadership.ts";
import { joinRound, type Participant } from "./participant.ts";

export const leaderRole: RoleSpec = {
  name: "leader",
  summary: "mutual exclusion: grants N slaves, one at a time at random, the right to append to a shared list",
  flags: [
    { name: "slaves", type: "int", valueName: "N", min: 1, max: limits.mutexSlavesMax, help: `slaves to wait for (1..${limits.mutexSlavesMax})` },
    { name: "round", type: "string", valueName: "name", help: `name of the round (default ${limits.mutexRoundDefault})` },
  ],
  defaultListen: null,
  needsConnect: true,
  embedsBroker: true,
  async start(config, flags) {
    if (!flags.has("slaves")) throw new UsageError("--role leader needs --slaves N");
    const expected = flags.int("slaves", 1);
    const round = flags.string("round") ?? limits.mutexRoundDefault;
    const life = new RoleLife();
    let leadership!: Leadership;
    const p: Participant = await joinRound(config, life, round, (message) => {
      leadership.onApplied(message);
      if (message.type === "done") {
        config.log.info("round-done", { written: p.state.list.length, slaves: p.state.slaves.length });
        void lingerThenExit();
      }
    });
    const crashAfter = failpoint("leader-crash-after-grants");
    const hangAfter = failpoint("leader-hang-after-grants");
    leadership = new Leadership({
      client: p.client, round, self: config.id, state: p.state, live: p.live, log: config.log, expected,
      // setImmediate: after this turn's writes (the grant is out), before any reply can be read.
      onGrant: (grants) => {
        if (crashAfter !== undefined && grants >= Number(crashAfter)) setImmediate(crashNow);
        if (hangAfter !== undefined && grants >= Number(hangAfter)) setImmediate(hangNow);
      },
    });
    p.live.onLeave((event) => leadership.onLeave(event.node));
    await p.readFanout();
    await leadership.begin(false);
    config.log.info("waiting-for-slaves", { expected, round });

    /** With the broker in this process, slaves must read "done" before it goes away. */
    async function lingerThenExit(): Promise<void> {
      const deadline = Date.now() + limits.mutexLingerMs;
      while (p.live.slaves.size > 0 && Date.now() < deadline) await Bun.sleep(20);
      life.stopping = true;
      await p.client.close();
      life.end("ok");
    }
    return {
      done: life.done,
      stop: () => {
        life.stopping = true;
        return p.client.close();
      },
    };
  },
};
