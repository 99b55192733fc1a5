// An append-only file of msgpack records with group commit, the mechanism under the Raft WAL and
// the gossip log: everything added in one event-loop turn goes out in one write and one
// fdatasync, and sync() resolves once it is durable (skipped with fsync off: then a machine crash,
// not a process crash, can lose what was synced). A torn last record (a crash mid-write) is
// ignored on load. Record: u32 big-endian length, then the msgpack body (the frame of the wire).
//
// Writes are synchronous: one only copies to the page cache (tens of µs), while an async
// FileHandle.write is a round trip through the thread pool that cost a fifth of a storage node's
// CPU under load (profiled). The fdatasync, which waits for the disk, stays off the event loop.

import { closeSync, existsSync, fdatasync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { promisify } from "node:util";
import { limits } from "../limits.ts";
import { FrameDecoder } from "../wire/frame_decoder.ts";
import { decode, encode } from "../wire/msgpack.ts";

const fdatasyncAsync = promisify(fdatasync);

export class RecordLog {
  private fd: number | null = null;
  private readonly pending: Uint8Array[] = [];
  /** Resolvers of sync() calls waiting for the write in progress or the next one. */
  private waiting: Array<() => void> = [];
  private writing = false;
  /** Bytes in the file: owners compact past their bound. */
  bytes = 0;

  private constructor(
    readonly path: string,
    private readonly fsync: boolean,
  ) {}

  /** Open (creating the file if needed) and read back every whole record in it. */
  static open(path: string, fsync: boolean): { log: RecordLog; records: unknown[] } {
    const log = new RecordLog(path, fsync);
    const records: unknown[] = [];
    if (existsSync(path)) {
      const bytes = readFileSync(path);
      log.bytes = bytes.length;
      try {
        new FrameDecoder(limits.frameBytesCeiling).feed(bytes, (body) => {
          records.push(decode(body));
        });
      } catch {
        // A torn or corrupt tail: what came before it stands.
      }
    }
    log.fd = openSync(path, "a");
    return { log, records };
  }

  add(record: unknown): void {
    this.pending.push(frameOf(record));
  }

  /** Resolves once everything added before the call is written (and fdatasync'ed, with fsync on). */
  sync(): Promise<void> {
    if (this.pending.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.writing) void this.flush();
    });
  }

  /** One write and one fdatasync for everything gathered; then again if more came meanwhile. */
  private async flush(): Promise<void> {
    this.writing = true;
    while (this.pending.length > 0 && this.fd !== null) {
      const batch = Buffer.concat(this.pending);
      const waiters = this.waiting;
      this.pending.length = 0;
      this.waiting = [];
      writeAll(this.fd, batch);
      if (this.fsync) await fdatasyncAsync(this.fd);
      this.bytes += batch.length;
      for (const resolve of waiters) resolve();
    }
    const late = this.waiting;
    this.waiting = [];
    this.writing = false;
    for (const resolve of late) resolve();
  }

  /**
   * Replace the file with the records `contentsOf()` gives (temp file, synced, renamed over), once
   * everything added so far is written. `contentsOf` runs with nothing pending and no write under
   * way, and the replacement happens in the same turn, so no record added meanwhile is lost.
   */
  async rewrite(contentsOf: () => unknown[]): Promise<void> {
    while (this.writing || this.pending.length > 0) await this.sync();
    const bytes = Buffer.concat(contentsOf().map(frameOf));
    if (this.fd !== null) closeSync(this.fd);
    writeFileDurably(this.path, bytes, this.fsync);
    this.bytes = bytes.length;
    this.fd = openSync(this.path, "a");
  }

  async close(): Promise<void> {
    await this.sync();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Write a whole file under a temp name, sync it (with fsync on), and rename it over `path`. */
export function writeFileDurably(path: string, bytes: Uint8Array, fsync: boolean): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, "w");
  try {
    writeAll(fd, bytes);
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

function frameOf(record: unknown): Uint8Array {
  const body = encode(record);
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  return frame;
}

/** writeSync until every byte is written (a regular file takes all at once, but the API allows less). */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}
