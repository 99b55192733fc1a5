// Gossip mode: a node's durable state in one directory: `log`, an append-only file of the updates
// it applied (its own and those gossip brought), and `snapshot`, every kept update and the Lamport
// clock, replaced atomically when the log grows past gossipLogBytesCompact. Group commit as in the
// Raft WAL: what is added in one event-loop turn goes out in one write and one fdatasync (skipped
// with --fsync off), and sync() resolves once it is durable; a write is acknowledged after that, so
// kill -9 never loses an acknowledged update of this node (a machine crash may, with fsync off).
//
// Record: u32 big-endian length, then msgpack [shard, key, version, replica, stamp, value]. A torn
// last record (a crash mid-write) is ignored on load. Replaying an update twice changes nothing.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { GossipUpdate } from "../../protocols/storage.ts";
import { limits } from "../limits.ts";
import { FrameDecoder } from "../wire/frame_decoder.ts";
import { decode, encode } from "../wire/msgpack.ts";

export type LoggedUpdate = [number, ...GossipUpdate];
export interface GossipSnapshot {
  clock: number;
  updates: LoggedUpdate[];
}

export class GossipLog {
  private handle: FileHandle | null = null;
  private pending: Uint8Array[] = [];
  private waiting: Array<() => void> = [];
  private writing = false;
  private bytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
    /** The whole state, taken when the log is compacted. */
    private readonly snapshotOf: () => GossipSnapshot,
  ) {}

  static async open(dir: string, fsync: boolean, snapshotOf: () => GossipSnapshot): Promise<{ log: GossipLog; loaded: GossipSnapshot }> {
    mkdirSync(dir, { recursive: true });
    const log = new GossipLog(dir, fsync, snapshotOf);
    const loaded = log.load();
    log.handle = await open(join(dir, "log"), "a");
    return { log, loaded };
  }

  private load(): GossipSnapshot {
    const snapshotPath = join(this.dir, "snapshot");
    const loaded: GossipSnapshot = existsSync(snapshotPath) ? (decode(readFileSync(snapshotPath)) as GossipSnapshot) : { clock: 0, updates: [] };
    const logPath = join(this.dir, "log");
    if (!existsSync(logPath)) return loaded;
    const bytes = readFileSync(logPath);
    this.bytes = bytes.length;
    try {
      new FrameDecoder(limits.frameBytesCeiling).feed(bytes, (body) => {
        loaded.updates.push(decode(body) as LoggedUpdate);
      });
    } catch {
      // A torn or corrupt tail: what came before it stands.
    }
    return loaded;
  }

  add(shard: number, u: GossipUpdate): void {
    const body = encode([shard, ...u]);
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length);
    frame.set(body, 4);
    this.pending.push(frame);
  }

  /** Resolves once everything added before the call is written (and fdatasync'ed, with fsync on). */
  sync(): Promise<void> {
    if (this.pending.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.writing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.pending.length > 0 && this.handle !== null) {
      const batch = Buffer.concat(this.pending);
      const waiters = this.waiting;
      this.pending = [];
      this.waiting = [];
      await this.handle.write(batch);
      if (this.fsync) await this.handle.datasync();
      this.bytes += batch.length;
      if (this.bytes > limits.gossipLogBytesCompact) await this.compact();
      for (const resolve of waiters) resolve();
    }
    const late = this.waiting;
    this.waiting = [];
    this.writing = false;
    for (const resolve of late) resolve();
  }

  /** Snapshot the whole state (it includes what is still pending: replayed twice, harmless) and start an empty log. */
  private async compact(): Promise<void> {
    const tmp = join(this.dir, "snapshot.tmp");
    const fd = openSync(tmp, "w");
    writeSync(fd, encode(this.snapshotOf()));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.dir, "snapshot"));
    await this.handle!.close();
    this.handle = await open(join(this.dir, "log"), "w");
    this.bytes = 0;
  }

  async close(): Promise<void> {
    await this.sync();
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}
