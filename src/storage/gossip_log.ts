// Gossip mode: a node's durable state in one directory: `log`, an append-only file of the updates
// it applied (its own and those gossip brought), and `snapshot`, every kept update and the Lamport
// clock, replaced atomically when the log grows past gossipLogBytesCompact. Group commit as in the
// Raft WAL (both are a RecordLog, src/runtime/record_log.ts): sync() resolves once what was added
// is durable; a write is acknowledged after that, so kill -9 never loses an acknowledged update of
// this node (a machine crash may, with fsync off).
//
// Record: msgpack [shard, key, version, replica, stamp, value]. A torn last record (a crash
// mid-write) is ignored on load. Replaying an update twice changes nothing.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { GossipUpdate } from "../../protocols/storage.ts";
import { limits } from "../limits.ts";
import { RecordLog, writeFileDurably } from "../runtime/record_log.ts";
import { decode, encode } from "../wire/msgpack.ts";

export type LoggedUpdate = [number, ...GossipUpdate];
export interface GossipSnapshot {
  clock: number;
  updates: LoggedUpdate[];
}

export class GossipLog {
  private compacting = false;

  private constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
    private readonly log: RecordLog,
    /** The whole state, taken when the log is compacted. */
    private readonly snapshotOf: () => GossipSnapshot,
  ) {}

  static async open(dir: string, fsync: boolean, snapshotOf: () => GossipSnapshot): Promise<{ log: GossipLog; loaded: GossipSnapshot }> {
    mkdirSync(dir, { recursive: true });
    const snapshotPath = join(dir, "snapshot");
    const loaded: GossipSnapshot = existsSync(snapshotPath) ? (decode(readFileSync(snapshotPath)) as GossipSnapshot) : { clock: 0, updates: [] };
    const { log, records } = RecordLog.open(join(dir, "log"), fsync);
    loaded.updates.push(...(records as LoggedUpdate[]));
    return { log: new GossipLog(dir, fsync, log, snapshotOf), loaded };
  }

  add(shard: number, u: GossipUpdate): void {
    this.log.add([shard, ...u]);
  }

  /** Resolves once everything added before the call is durable; past gossipLogBytesCompact, compacts first. */
  async sync(): Promise<void> {
    await this.log.sync();
    if (this.log.bytes > limits.gossipLogBytesCompact && !this.compacting) {
      this.compacting = true;
      try {
        // The snapshot holds every update applied so far, so the log starts empty (a crash between
        // the two files replays the old log over the new snapshot: harmless, replays change nothing).
        await this.log.rewrite(() => {
          writeFileDurably(join(this.dir, "snapshot"), encode(this.snapshotOf()), this.fsync);
          return [];
        });
      } finally {
        this.compacting = false;
      }
    }
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}
