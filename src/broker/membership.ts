// Who is connected to the broker, with which role, and when each was last heard from. Joins and
// leaves (closed or declared dead by heartbeats) are announced on the $sys.members channel.

import { MEMBERS_CHANNEL, type MemberEvent, type MemberInfo } from "../../protocols/broker.ts";
import type { Connection } from "../runtime/connection.ts";
import type { PubSub } from "./pubsub.ts";

export class Membership {
  private readonly members = new Map<Connection, { connectedAtMs: number; dead: boolean }>();

  constructor(private readonly pubsub: PubSub) {}

  join(connection: Connection): void {
    this.members.set(connection, { connectedAtMs: Date.now(), dead: false });
    this.announce({ event: "join", node: connection.peer!.node, role: connection.peer!.role, atMs: Date.now() });
  }

  /** The heartbeat declared this peer dead; its leave (which follows) says so. */
  markDead(connection: Connection): void {
    const member = this.members.get(connection);
    if (member) member.dead = true;
  }

  leave(connection: Connection): void {
    const member = this.members.get(connection);
    if (member === undefined || connection.peer === null) return;
    this.members.delete(connection);
    this.announce({ event: "leave", node: connection.peer.node, role: connection.peer.role, reason: member.dead ? "dead" : "closed", atMs: Date.now() });
  }

  list(role?: string): MemberInfo[] {
    const out: MemberInfo[] = [];
    for (const [connection, member] of this.members) {
      if (connection.peer === null || (role !== undefined && connection.peer.role !== role)) continue;
      out.push({ node: connection.peer.node, role: connection.peer.role, address: connection.remote, connectedAtMs: member.connectedAtMs, lastSeenMs: connection.lastInboundMs });
    }
    return out;
  }

  private announce(event: MemberEvent): void {
    this.pubsub.publish(MEMBERS_CHANNEL, event);
  }
}
