// Which slaves are alive, from the broker's membership: the initial list plus join/leave events
// on $sys.members. Every participant sees the same events in the same order, so elections agree.

import { MEMBERS_CHANNEL, type MemberEvent } from "../../protocols/broker.ts";
import type { BrokerClient } from "../broker/broker_client.ts";

export class LiveMembers {
  readonly slaves = new Set<string>();
  private readonly leaveListeners: Array<(event: MemberEvent) => void> = [];

  static async track(client: BrokerClient): Promise<LiveMembers> {
    const live = new LiveMembers();
    await client.subscribe(MEMBERS_CHANNEL, (body) => live.onEvent(body as MemberEvent));
    for (const member of await client.members("slave")) live.slaves.add(member.node);
    return live;
  }

  onLeave(listener: (event: MemberEvent) => void): void {
    this.leaveListeners.push(listener);
  }

  /** The election rule: the lowest live slave id (plain string order) leads. */
  lowest(): string | undefined {
    return [...this.slaves].sort()[0];
  }

  private onEvent(event: MemberEvent): void {
    if (event.event === "join") {
      if (event.role === "slave") this.slaves.add(event.node);
      return;
    }
    if (event.role === "slave") this.slaves.delete(event.node);
    for (const listener of this.leaveListeners) listener(event);
  }
}
