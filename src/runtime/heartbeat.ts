// Liveness of one connection. Any inbound frame counts as a sign of life; when the peer has been
// quiet for half an interval we ping it, which any node must answer. Silent for
// missedHeartbeatsMax intervals: the peer is declared dead and the connection closed.
//
// Our own starvation must not look like the peer's death: on an overloaded machine (hundreds of
// processes on two cores) our timer can fire long after it was due, with the peer's frames still
// unread in the socket. So a tick that fires late does not judge, and a verdict of death is
// re-checked once after pending reads were processed.

import { PeerError } from "../errors.ts";
import type { Connection } from "./connection.ts";

export interface HeartbeatOptions {
  intervalMs: number;
  missedMax: number;
  onDead: (connection: Connection, silentMs: number) => void;
}

export function startHeartbeat(connection: Connection, options: HeartbeatOptions): () => void {
  const { intervalMs, missedMax } = options;
  if (intervalMs <= 0) return () => {};
  const deadAfterMs = intervalMs * missedMax;
  const checkEveryMs = Math.max(1, Math.floor(intervalMs / 2));
  let lastTickMs = Date.now();
  let judging = false;

  const silentMs = (): number => Date.now() - connection.lastInboundMs;
  const declareDead = (): void => {
    stop();
    const silent = silentMs();
    options.onDead(connection, silent);
    connection.close(new PeerError("PEER_DEAD", `no frame from peer for ${silent} ms`));
  };

  const timer = setInterval(() => {
    if (!connection.isOpen) return stop();
    const now = Date.now();
    const lateMs = now - lastTickMs - checkEveryMs;
    lastTickMs = now;
    if (lateMs > checkEveryMs) return; // we were not running: we cannot tell whether the peer was
    if (connection.readingHeld) return; // we stopped reading it: its silence is ours
    if (silentMs() >= deadAfterMs) {
      if (judging) return;
      judging = true;
      // Let the event loop read whatever already arrived, then decide.
      setImmediate(() => {
        judging = false;
        if (connection.isOpen && silentMs() >= deadAfterMs) declareDead();
      });
      return;
    }
    if (silentMs() >= intervalMs / 2) {
      connection.request("ping", {}, deadAfterMs).catch(() => {
        /* the silence itself is what declares death; a lost ping is not an error */
      });
    }
  }, checkEveryMs);
  const stop = (): void => clearInterval(timer);
  connection.onClosed(stop);
  return stop;
}
