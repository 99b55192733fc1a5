// Who follows which key (kv.watch), in either mode: each watching connection gets kv.changed for
// every new version applied on this node. Bounded per connection (storageWatchesPerConnectionMax);
// a connection's watches end with it.

import { storageClient } from "../../protocols/storage.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Connection } from "../runtime/connection.ts";

export class Watches {
  private readonly byKey = new Map<string, Set<Connection>>();
  private readonly perConnection = new Map<Connection, Set<string>>();

  add(key: string, connection: Connection): void {
    let keys = this.perConnection.get(connection);
    if (keys?.has(key)) return;
    if (keys === undefined) {
      this.perConnection.set(connection, (keys = new Set()));
      connection.onClosed(() => {
        for (const k of this.perConnection.get(connection) ?? []) this.remove(k, connection);
        this.perConnection.delete(connection);
      });
    }
    if (keys.size >= limits.storageWatchesPerConnectionMax) throw new PeerError("LIMIT_EXCEEDED", `this connection watches ${keys.size} keys already (at most ${limits.storageWatchesPerConnectionMax})`);
    keys.add(key);
    let set = this.byKey.get(key);
    if (set === undefined) this.byKey.set(key, (set = new Set()));
    set.add(connection);
  }

  remove(key: string, connection: Connection): void {
    this.perConnection.get(connection)?.delete(key);
    const set = this.byKey.get(key);
    set?.delete(connection);
    if (set?.size === 0) this.byKey.delete(key);
  }

  notify(key: string, version: number, value: unknown): void {
    const set = this.byKey.get(key);
    if (set === undefined) return;
    for (const c of set) c.send(storageClient, "kv.changed", { key, version, value });
  }
}
