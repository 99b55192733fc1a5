// Who is connected to the broker, with which role, and when each was last heard from. Joins and
// leaves (closed or declared dead by heartbeats) are announced on the $sys.members channel. A
// member is named by its node id and role, so the broker admits one live connection per pair.

import { MEMBERS_CHANNEL, type MemberEvent, type MemberInfo } from "../../protocols/broker.ts";
import { PeerError, quote } from "../errors.ts";
import type { Connection } from "../runtime/connection.ts";
import type { PubSub } from "./pubsub.ts";

export class Membership {
  private readonly members = new Map<Connection, { connectedAtMs: number; dead: boolean }>();
  /** Node ids of the members, by role: a leave names only these, so two live members may not share both. */
  private readonly nodesByRole = new Map<string, Set<string>>();

  constructor(private readonly pubsub: PubSub) {}

  /** Called during hello, before the peer is admitted: a second live node id and role is refused. */
  checkUnique(connection: Connection): void {
    const { node, role } = connection.peer!;
    if (this.nodesByRole.get(role)?.has(node) === true) {
      throw new PeerError("NODE_ID_IN_USE", `node id ${quote(node)} is in use by another live ${quote(role)} connection on this broker`);
    }
  }

  join(connection: Connection): void {
    this.members.set(connection, { connectedAtMs: Date.now(), dead: false });
    const { node, role } = connection.peer!;
    let nodes = this.nodesByRole.get(role);
    if (nodes === undefined) this.nodesByRole.set(role, (nodes = new Set()));
    nodes.add(node);
    this.announce({ event: "join", node, role, atMs: Date.now() });
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
    const nodes = this.nodesByRole.get(connection.peer.role);
    nodes?.delete(connection.peer.node);
    if (nodes?.size === 0) this.nodesByRole.delete(connection.peer.role);
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

