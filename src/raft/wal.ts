// A Raft group's durable state in one directory: `wal` (an append-only file of records: hard
// state, and runs of entries whose first index truncates what followed it) and `snapshot` (the
// last snapshot, replaced atomically). Group commit: everything written in one event-loop turn goes
// out in one write and one fdatasync, and sync() resolves once it is durable — a node answers
// votes and appends only after that, so after kill -9 it never votes twice in a term nor forgets an
// entry it acknowledged. `fsync: false` skips the fdatasync (benchmarks, like etcd's
// --unsafe-no-fsync): then a machine crash (not a process crash) can lose acknowledged entries.
//
// Record: u32 big-endian length, then msgpack {t: "hs", term, vote, commit} | {t: "en", entries}.
// A torn last record (a crash mid-write) is ignored on load.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { FrameDecoder } from "../wire/frame_decoder.ts";
import { decode, encode } from "../wire/msgpack.ts";
import { limits } from "../limits.ts";
import type { HardState, RaftEntry, RaftSnapshot } from "./raft_node.ts";

export interface WalContents {
  hardState: HardState;
  snapshot: RaftSnapshot | null;
  entries: RaftEntry[];
}

type WalRecord = { t: "hs"; term: number; vote: string; commit: number } | { t: "en"; entries: RaftEntry[] };

export class Wal {
  private handle: FileHandle | null = null;
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Resolvers of sync() calls waiting for the write in progress or the next one. */
  private waiting: Array<() => void> = [];
  private writing = false;
  /** Bytes in the wal file: past walBytesCompact, the owner is told to snapshot. */
  bytes = 0;

  private constructor(
    readonly dir: string,
    private readonly fsync: boolean,
  ) {}

  /** Open (creating the directory if needed) and load what was persisted. */
  static async open(dir: string, fsync: boolean): Promise<{ wal: Wal; contents: WalContents }> {
    mkdirSync(dir, { recursive: true });
    const wal = new Wal(dir, fsync);
    const contents = wal.load();
    wal.handle = await open(join(dir, "wal"), "a");
    return { wal, contents };
  }

  private load(): WalContents {
    const contents: WalContents = { hardState: { term: 0, vote: "", commit: 0 }, snapshot: null, entries: [] };
    const snapshotPath = join(this.dir, "snapshot");
    if (existsSync(snapshotPath)) contents.snapshot = decode(readFileSync(snapshotPath)) as RaftSnapshot;
    const walPath = join(this.dir, "wal");
    if (!existsSync(walPath)) return contents;
    const bytes = readFileSync(walPath);
    this.bytes = bytes.length;
    const decoder = new FrameDecoder(limits.frameBytesCeiling);
    try {
      decoder.feed(bytes, (body) => {
        const record = decode(body) as WalRecord;
        if (record.t === "hs") contents.hardState = { term: record.term, vote: record.vote, commit: record.commit };
        else if (record.entries.length > 0) {
          const first = record.entries[0]!.index;
          contents.entries = contents.entries.filter((e) => e.index < first).concat(record.entries);
        }
      });
    } catch {
      // A torn or corrupt tail: what came before it stands.
    }
    const snapIndex = contents.snapshot?.index ?? 0;
    contents.entries = contents.entries.filter((e) => e.index > snapIndex);
    return contents;
  }

  saveHardState(hs: HardState): void {
    this.add({ t: "hs", term: hs.term, vote: hs.vote, commit: hs.commit });
  }

  /** Entries to append; the first one's index truncates anything stored from there on. */
  saveEntries(entries: RaftEntry[]): void {
    if (entries.length > 0) this.add({ t: "en", entries });
  }

  private add(record: WalRecord): void {
    const body = encode(record);
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length);
    frame.set(body, 4);
    this.pending.push(frame);
    this.pendingBytes += frame.length;
  }

  /** Resolves once everything added before the call is written (and fdatasync'ed, with fsync on). */
  sync(): Promise<void> {
    if (this.pendingBytes === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.writing) void this.flush();
    });
  }

  /** One write and one fdatasync for everything gathered; then again if more came meanwhile. */
  private async flush(): Promise<void> {
    this.writing = true;
    while (this.pendingBytes > 0) {
      const batch = Buffer.concat(this.pending);
      const waiters = this.waiting;
      this.pending.length = 0;
      this.pendingBytes = 0;
      this.waiting = [];
      // A synchronous write: it only copies to the page cache (tens of µs), while an async
      // FileHandle.write is a round trip through the thread pool that cost a fifth of a node's CPU
      // under load (profiled). The fdatasync, which waits for the disk, stays off the event loop.
      writeAll(this.handle!.fd, batch);
      if (this.fsync) await this.handle!.datasync();
      this.bytes += batch.length;
      for (const resolve of waiters) resolve();
    }
    const late = this.waiting;
    this.waiting = [];
    for (const resolve of late) resolve();
    this.writing = false;
  }

  /**
   * Replace the snapshot, and rewrite the wal with what remains (the hard state and the entries
   * after the snapshot): each file written to a temp name, synced, then renamed over the old.
   */
  async compact(snapshot: RaftSnapshot, hardState: HardState, remaining: RaftEntry[]): Promise<void> {
    await this.sync();
    writeDurably(join(this.dir, "snapshot"), encode(snapshot), this.fsync);
    const records: Uint8Array[] = [];
    for (const record of [{ t: "hs", ...hardState } as WalRecord, ...(remaining.length > 0 ? [{ t: "en", entries: remaining } as WalRecord] : [])]) {
      const body = encode(record);
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      records.push(frame);
    }
    await this.handle!.close();
    const bytes = Buffer.concat(records);
    writeDurably(join(this.dir, "wal"), bytes, this.fsync);
    this.bytes = bytes.length;
    this.handle = await open(join(this.dir, "wal"), "a");
  }

  /** A snapshot received from the leader: it replaces everything. */
  async installSnapshot(snapshot: RaftSnapshot, hardState: HardState): Promise<void> {
    await this.compact(snapshot, hardState, []);
  }

  async close(): Promise<void> {
    await this.sync();
    await this.handle?.close();
    this.handle = null;
  }
}

function writeDurably(path: string, bytes: Uint8Array, fsync: boolean): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, "w");
  try {
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

/** writeSync until every byte is written (a regular file takes all at once, but the API allows less). */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}
