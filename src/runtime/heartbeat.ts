// Liveness of one connection. Any inbound frame counts as a sign of life; when the peer has been
// quiet for a whole interval we ping it, which any node must answer. Silent for
// missedHeartbeatsMax intervals: the peer is declared dead and the connection closed.

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
  // Check twice per interval so detection lands within deadAfterMs + intervalMs/2.
  const timer = setInterval(() => {
    if (!connection.isOpen) return stop();
    const silentMs = Date.now() - connection.lastInboundMs;
    if (silentMs >= deadAfterMs) {
      stop();
      options.onDead(connection, silentMs);
      connection.close(new PeerError("PEER_DEAD", `no frame from peer for ${silentMs} ms`));
      return;
    }
    if (silentMs >= intervalMs / 2) {
      connection.request({ op: "ping" }, deadAfterMs).catch(() => {
        /* the silence itself is what declares death; a lost ping is not an error */
      });
    }
  }, Math.max(1, Math.floor(intervalMs / 2)));
  const stop = (): void => clearInterval(timer);
  connection.onClosed(stop);
  return stop;
}
