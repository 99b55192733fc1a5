// What the leader and every slave share: a connection to the broker, an exclusive queue bound to
// the round's fanout (the total order), the RoundState built from it, and live membership.
// The fanout queue is read at once by a leader, and only when needed by a slave (readFanout).
// Losing the broker mid-round is final: the role ends with exit code 3 (upstream lost).

import { fanoutMessage, MUTEX_FANOUT, MUTEX_REQUESTS, type FanoutMessage } from "../../protocols/mutex.ts";
import { parsed } from "../../protocols/schema.ts";
import { BrokerClient } from "../broker/broker_client.ts";
import { limits } from "../limits.ts";
import { PeerError } from "../errors.ts";
import { ExitError, UsageError } from "../runtime/exit.ts";
import type { NodeConfig } from "../runtime/node_config.ts";
import type { RoleLife } from "../runtime/role.ts";
import { LiveMembers } from "./live_slaves.ts";
import { RoundState } from "./round_state.ts";

export type FanoutListener = (message: FanoutMessage, change: ReturnType<RoundState["apply"]>) => void;

export interface Participant {
  client: BrokerClient;
  state: RoundState;
  live: LiveMembers;
  /** Start reading the fanout queue (everything retained so far, then live); idempotent. */
  readFanout(): Promise<void>;
}

/** Connect and bind to the round. `onMessage` sees each valid fanout message after it was applied. */
export async function joinRound(config: NodeConfig, life: RoleLife, round: string, onMessage: FanoutListener): Promise<Participant> {
  const who = `${config.role} ${config.id}`;
  let client: BrokerClient;
  try {
    client = await BrokerClient.connect(config.connect, {
      id: config.id,
      role: config.role,
      token: config.token,
      // Heartbeats between a process and itself prove nothing, and under load they misfire.
      heartbeatMs: config.brokerInProcess ? 0 : config.heartbeatMs,
      firstConnectWindowMs: limits.firstConnectWindowMs,
      lostWindowMs: 0, // mid-round, losing the broker is final
      log: config.log,
    });
  } catch (err) {
    // The broker admits one live connection per node id and role: a second slave with our id is a
    // command-line mistake (two terminals given the same --id), not a broker problem.
    if (err instanceof PeerError && err.name === "NODE_ID_IN_USE") {
      throw new UsageError(`${who}: another live ${config.role} already uses the id "${config.id}" on the broker at ${config.connect.join(",")}; give each ${config.role} its own --id`);
    }
    throw new ExitError("startup", `${who}: cannot reach the broker: ${(err as Error).message}`);
  }
  const state = new RoundState();
  client.upstream.on("lost", (err) => {
    if (!state.done) life.end("upstreamLost", `${who}: ${err.message}; exiting`);
  });
  await client.declareExchange(MUTEX_FANOUT(round), "fanout");
  await client.declareQueue(MUTEX_REQUESTS(round));
  // Bounded like every queue; a round has about 2N + 3 fanout messages.
  const mine = await client.declareQueue();
  await client.bindQueue(mine, MUTEX_FANOUT(round));
  const live = await LiveMembers.track(client, round);
  let reading: Promise<void> | null = null;
  const readFanout = (): Promise<void> =>
    (reading ??= client
      .consume(mine, (d) => {
        // Not a round message (a stray publish): everybody ignores it alike, so the lists still agree.
        const message = parsed(fanoutMessage, d.body);
        if (message === undefined) return config.log.warn("fanout-ignored", { body: typeof d.body });
        onMessage(message, state.apply(message));
      }, { autoAck: true })
      .then(() => undefined));
  return { client, state, live, readFanout };
}
