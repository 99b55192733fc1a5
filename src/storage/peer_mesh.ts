// A storage node's links to the other storage nodes, in either mode: one Upstream per peer (found
// for ever, reconnected after every loss), and, in linearizable mode, Raft messages gathered per
// destination during an event-loop turn and sent as one `raft` frame. Raft tolerates loss, so a
// message for a peer that is not connected right now is dropped: the next heartbeat or retry
// carries the same information.

import { storage } from "../../protocols/storage.ts";
import type { RaftMessage } from "../raft/raft_node.ts";
import { limits } from "../limits.ts";
import { HandlerTable } from "../runtime/handlers.ts";
import type { Logger } from "../runtime/log.ts";
import { Upstream } from "../runtime/upstream.ts";

export interface PeerMeshOptions {
  self: string;
  /** Our own address, sent with every frame so a peer that does not know us yet (we are joining) can answer. */
  selfAddress: string;
  token?: string;
  heartbeatMs?: number;
  frameBytesMax: number;
  log: Logger;
}

export class PeerMesh {
  private readonly links = new Map<string, { address: string; upstream: Upstream }>();
  private readonly outbox = new Map<string, Array<{ shard: number; message: RaftMessage }>>();
  private flushScheduled = false;
  private closed = false;

  constructor(private readonly o: PeerMeshOptions) {}

  /** Keep (or start) a link to `id` at `address`; a changed address replaces the link. */
  ensure(id: string, address: string): void {
    if (id === this.o.self || this.closed) return;
    const link = this.links.get(id);
    if (link !== undefined && link.address === address) return;
    void link?.upstream.close();
    const upstream = new Upstream({
      addresses: [address],
      serves: "storage",
      what: "storage node",
      identity: { node: this.o.self, role: "storage" },
      token: this.o.token,
      heartbeatMs: this.o.heartbeatMs,
      frameBytesMax: this.o.frameBytesMax,
      firstConnectWindowMs: Infinity, // peers start in any order
      lostWindowMs: Infinity,
      handlers: new HandlerTable(),
      log: this.o.log,
    });
    this.links.set(id, { address, upstream });
    upstream.connect().catch(() => {}); // looks for ever; only close() ends it
  }

  /** The link to `id`, connected or not (gossip mode calls its peers through it). */
  peer(id: string): Upstream | undefined {
    return this.links.get(id)?.upstream;
  }

  /** Forget a peer that left the cluster. */
  drop(id: string): void {
    const link = this.links.get(id);
    this.links.delete(id);
    void link?.upstream.close();
  }

  send(shard: number, messages: RaftMessage[]): void {
    for (const message of messages) {
      let queue = this.outbox.get(message.to);
      if (queue === undefined) this.outbox.set(message.to, (queue = []));
      queue.push({ shard, message });
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [to, queue] of this.outbox) {
      const link = this.links.get(to);
      for (let at = 0; at < queue.length; at += limits.raftMessagesPerFrameMax) {
        const messages = queue.slice(at, at + limits.raftMessagesPerFrameMax);
        // Not connected (or too large for the peer): dropped, as a lossy network would.
        try {
          link?.upstream.send(storage, "raft", { node: this.o.self, address: this.o.selfAddress, messages });
        } catch (err) {
          this.o.log.debug("raft-send-failed", { to, error: (err as Error).message });
        }
      }
    }
    this.outbox.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.links.values()].map((l) => l.upstream.close()));
    this.links.clear();
  }
}
