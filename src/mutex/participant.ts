// What the leader and every slave share: a connection to the broker, an exclusive queue bound to
// the round's fanout (the total order), the RoundState built from it, and live membership.
// The fanout queue is read at once by a leader, and only when needed by a slave (readFanout).

import type { FanoutMessage } from "../../protocols/mutex.ts";
import { MUTEX_FANOUT, MUTEX_REQUESTS } from "../../protocols/mutex.ts";
import { BrokerClient, type BrokerClientOptions } from "../broker/broker_client.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { backoffMs } from "../runtime/peer_client.ts";
import { formatAddress } from "../cli/address.ts";
import type { NodeConfig } from "../runtime/node_config.ts";
import { LiveMembers } from "./live_slaves.ts";
import { RoundState } from "./round_state.ts";

export type FanoutListener = (message: FanoutMessage, change: ReturnType<RoundState["apply"]>) => void;

export interface Participant {
  client: BrokerClient;
  state: RoundState;
  live: LiveMembers;
  /** Resolves with a message when the broker is lost. */
  brokerLost: Promise<string>;
  /** Start reading the fanout queue (everything retained so far, then live); idempotent. */
  readFanout(): Promise<void>;
}

/** Connect and bind to the round. `onMessage` sees each fanout message after it was applied. */
export async function joinRound(config: NodeConfig, round: string, onMessage: FanoutListener): Promise<Participant> {
  const address = formatAddress(config.connect!);
  const client = await connectWithin(address, limits.firstConnectWindowMs, {
    id: config.id,
    role: config.role,
    token: config.token,
    // Heartbeats between a process and itself prove nothing, and under load they misfire.
    heartbeatMs: config.brokerInProcess ? 0 : config.heartbeatMs,
    reconnect: false,
    log: config.log,
  });
  const brokerLost = new Promise<string>((resolve) => {
    client.peer.on("disconnected", (reason) => resolve(`lost the broker at ${address} (${reason?.name ?? "closed"})`));
    client.peer.on("gave-up", (err) => resolve(`lost the broker at ${address}: ${err.message}`));
  });
  const state = new RoundState();
  await client.declareExchange(MUTEX_FANOUT(round), "fanout");
  await client.declareQueue(MUTEX_REQUESTS(round));
  // Bounded like every queue; a round has about 2N + 3 fanout messages.
  const mine = await client.declareQueue();
  await client.bindQueue(mine, MUTEX_FANOUT(round));
  const live = await LiveMembers.track(client);
  let reading: Promise<void> | null = null;
  const readFanout = (): Promise<void> =>
    (reading ??= client
      .consume(mine, (d) => {
        const message = d.body as FanoutMessage;
        onMessage(message, state.apply(message));
      }, { autoAck: true })
      .then(() => undefined));
  return { client, state, live, brokerLost, readFanout };
}

/**
 * The first connection may be tried for a while (the broker may still be booting); once
 * connected, losing the broker is final for a round. Refusals (token, version) are not retried.
 */
async function connectWithin(address: string, windowMs: number, options: BrokerClientOptions): Promise<BrokerClient> {
  const deadline = Date.now() + windowMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await BrokerClient.connect(address, options);
    } catch (err) {
      const refused = err instanceof PeerError && (err.name === "AUTH_FAILED" || err.name === "VERSION_MISMATCH");
      if (refused || Date.now() + backoffMs(attempt) > deadline) throw new Error(`cannot reach the broker at ${address}: ${(err as Error).message}`);
      await Bun.sleep(backoffMs(attempt));
    }
  }
}

/**
 * Mid-round, losing the broker is final: exit 3 with one line naming who and why. Our own orderly
 * stop closes the connection too and is not a loss. Returns the role's stop().
 */
export function exitOnBrokerLoss(p: Participant, who: string, finish: (code: number) => void): () => Promise<void> {
  let stopping = false;
  void p.brokerLost.then((why) => {
    if (p.state.done || stopping) return;
    process.stderr.write(`peer-node: ${who}: ${why}; exiting\n`);
    finish(3);
  });
  return () => {
    stopping = true;
    return p.client.close();
  };
}
