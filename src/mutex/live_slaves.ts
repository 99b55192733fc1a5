// Who is live in the round, and so who leads it, from the broker's membership: the member list,
// then the join/leave events on $sys.members. The broker sends every event to every subscriber in
// one order, and lists members in join order, so every participant holds the same view at the same
// point of that order and computes the same leader without a message from anyone. That is what lets
// a slave that has not read the fanout tell that the node that just died was leading.
//
// Succession: while a leader-role node is live, it leads. Once none is (it died), the live slave
// that joined first leads; when that one dies, the next in join order, and so on. Join order and not
// id order: a slave that joins later can never displace one that took over already, and is the last
// to be asked to lead (it may have bound its fanout queue after the round started).

import { MEMBERS_CHANNEL, memberEvent, type MemberEvent } from "../../protocols/broker.ts";
import { MUTEX_EPOCH } from "../../protocols/mutex.ts";
import { parsed } from "../../protocols/schema.ts";
import type { BrokerClient } from "../broker/broker_client.ts";

export class LiveMembers {
  /** Live slave ids in join order (a Set keeps insertion order; re-adding a present id does not move it). */
  readonly slaves = new Set<string>();
  /** Live leader-role node ids. */
  private readonly leaders = new Set<string>();
  /** A leader has existed: seen here, or the round's epoch counter said one began. Before that, slaves wait for it. */
  private led = false;
  private readonly leaveListeners: Array<(event: MemberEvent) => void> = [];
  private readonly changeListeners: Array<(event: MemberEvent) => void> = [];

  static async track(client: BrokerClient, round: string): Promise<LiveMembers> {
    const live = new LiveMembers();
    // The member list is the broker's state when it answers; events published before that arrive
    // before the reply, and some after it may be handled before our code resumes. So events are
    // kept until the list is in and then replayed on top of it: a join of a listed member does not
    // move it, a leave removes it, so replaying the ones it already reflects changes nothing.
    let early: MemberEvent[] | null = [];
    await client.subscribe(MEMBERS_CHANNEL, (body) => {
      const event = parsed(memberEvent, body);
      if (event === undefined) return;
      if (early !== null) early.push(event);
      else live.onEvent(event);
    });
    // Both asked at once (one round trip); the broker answers in order, so the epoch is read after
    // the list. A slave that joined after the leader died saw no leader, but every leader takes an
    // epoch before it does anything.
    const [members, epoch] = await Promise.all([client.members(), client.get(MUTEX_EPOCH(round))]);
    for (const member of members) live.add(member.node, member.role);
    if (typeof epoch === "number" && epoch > 0) live.led = true;
    const replay = early;
    early = null;
    for (const event of replay) live.onEvent(event);
    return live;
  }

  /** Called for every member that leaves (any role). */
  onLeave(listener: (event: MemberEvent) => void): void {
    this.leaveListeners.push(listener);
  }

  /** Called after every join or leave, once the view includes it. */
  onChange(listener: (event: MemberEvent) => void): void {
    this.changeListeners.push(listener);
  }

  /** The slave that leads now that the leader is gone, or undefined while a leader-role node leads (or none has come yet). */
  actingSlave(): string | undefined {
    if (this.leaders.size > 0 || !this.led) return undefined;
    return this.slaves.values().next().value;
  }

  private add(node: string, role: string): void {
    if (role === "slave") this.slaves.add(node);
    if (role === "leader") {
      this.leaders.add(node);
      this.led = true;
    }
  }

  private onEvent(event: MemberEvent): void {
    if (event.event === "join") {
      this.add(event.node, event.role);
    } else {
      if (event.role === "slave") this.slaves.delete(event.node);
      if (event.role === "leader") this.leaders.delete(event.node);
      for (const listener of this.leaveListeners) listener(event);
    }
    for (const listener of this.changeListeners) listener(event);
  }
}
