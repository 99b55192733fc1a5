// Pub/sub channels: a publish reaches every current subscriber and is not stored. The frame is
// encoded once and the same bytes are queued on every subscriber's connection.

import type { brokerClient } from "../../protocols/broker.ts";
import type { RequestOf } from "../../protocols/protocol.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { encodeBody } from "../wire/codec.ts";
import type { Session } from "./session.ts";

type ChannelMessage = RequestOf<typeof brokerClient, "message">;

export class PubSub {
  private readonly channels = new Map<string, Set<Session>>();

  get channelCount(): number {
    return this.channels.size;
  }

  subscribe(session: Session, channel: string): void {
    if (session.subscriptions.has(channel)) return;
    if (session.subscriptions.size >= limits.subscriptionsPerConnectionMax) {
      throw new PeerError("LIMIT_EXCEEDED", `a connection may hold ${limits.subscriptionsPerConnectionMax} subscriptions`);
    }
    let sessions = this.channels.get(channel);
    if (sessions === undefined) this.channels.set(channel, (sessions = new Set()));
    sessions.add(session);
    session.subscriptions.add(channel);
  }

  unsubscribe(session: Session, channel: string): boolean {
    if (!session.subscriptions.delete(channel)) return false;
    const sessions = this.channels.get(channel);
    sessions?.delete(session);
    if (sessions?.size === 0) this.channels.delete(channel);
    return true;
  }

  unsubscribeAll(session: Session): void {
    for (const channel of [...session.subscriptions]) this.unsubscribe(session, channel);
  }

  /** Returns the number of subscribers reached. */
  publish(channel: string, body: unknown): number {
    const sessions = this.channels.get(channel);
    if (sessions === undefined || sessions.size === 0) return 0;
    const message: ChannelMessage & { op: "message" } = { op: "message", channel, body };
    // Encoded once, the same bytes queued for every subscriber (each accepts the broker's frames: checkReceiver).
    const frame = encodeBody(message);
    for (const session of sessions) session.connection.sendBody(frame);
    return sessions.size;
  }
}
