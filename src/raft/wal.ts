// A Raft group's durable state in one directory: `wal` (an append-only file of records: hard
// state, and runs of entries whose first index truncates what followed it) and `snapshot` (the
// last snapshot, replaced atomically). Group commit: everything written in one event-loop turn goes
// out in one write and one fdatasync, and sync() resolves once it is durable — a node answers
// votes and appends only after that, so after kill -9 it never votes twice in a term nor forgets an
// entry it acknowledged. `fsync: false` skips the fdatasync (benchmarks, like etcd's
// --unsafe-no-fsync): then a machine crash (not a process crash) can lose acknowledged entries.
//
// Records (src/runtime/record_log.ts): msgpack {t: "hs", term, vote, commit} | {t: "en", entries}.
// A torn last record (a crash mid-write) is ignored on load.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RecordLog, writeFileDurably } from "../runtime/record_log.ts";
import { decode, encode } from "../wire/msgpack.ts";
import type { HardState, RaftEntry, RaftSnapshot } from "./raft_node.ts";

export interface WalContents {
  hardState: HardState;
  snapshot: RaftSnapshot | null;
  entries: RaftEntry[];
}

type WalRecord = { t: "hs"; term: number; vote: string; commit: number } | { t: "en"; entries: RaftEntry[] };

export class Wal {
  private constructor(
    readonly dir: string,
    private readonly fsync: boolean,
    private readonly log: RecordLog,
  ) {}

  /** Bytes in the wal file: past walBytesCompact, the owner is told to snapshot. */
  get bytes(): number {
    return this.log.bytes;
  }

  /** Open (creating the directory if needed) and load what was persisted. */
  static async open(dir: string, fsync: boolean): Promise<{ wal: Wal; contents: WalContents }> {
    mkdirSync(dir, { recursive: true });
    const { log, records } = RecordLog.open(join(dir, "wal"), fsync);
    const contents: WalContents = { hardState: { term: 0, vote: "", commit: 0 }, snapshot: null, entries: [] };
    const snapshotPath = join(dir, "snapshot");
    if (existsSync(snapshotPath)) contents.snapshot = decode(readFileSync(snapshotPath)) as RaftSnapshot;
    for (const record of records as WalRecord[]) {
      if (record.t === "hs") contents.hardState = { term: record.term, vote: record.vote, commit: record.commit };
      else if (record.entries.length > 0) {
        const first = record.entries[0]!.index;
        contents.entries = contents.entries.filter((e) => e.index < first).concat(record.entries);
      }
    }
    const snapIndex = contents.snapshot?.index ?? 0;
    contents.entries = contents.entries.filter((e) => e.index > snapIndex);
    return { wal: new Wal(dir, fsync, log), contents };
  }

  saveHardState(hs: HardState): void {
    this.log.add({ t: "hs", term: hs.term, vote: hs.vote, commit: hs.commit } satisfies WalRecord);
  }

  /** Entries to append; the first one's index truncates anything stored from there on. */
  saveEntries(entries: RaftEntry[]): void {
    if (entries.length > 0) this.log.add({ t: "en", entries } satisfies WalRecord);
  }

  /** Resolves once everything saved before the call is durable (written, and fdatasync'ed with fsync on). */
  sync(): Promise<void> {
    return this.log.sync();
  }

  /**
   * Replace the snapshot, and rewrite the wal with what remains (the hard state and the entries
   * after the snapshot): each file written to a temp name, synced, then renamed over the old.
   */
  async compact(snapshot: RaftSnapshot, hardState: HardState, remaining: RaftEntry[]): Promise<void> {
    await this.log.rewrite(() => {
      writeFileDurably(join(this.dir, "snapshot"), encode(snapshot), this.fsync);
      return [{ t: "hs", ...hardState } satisfies WalRecord, ...(remaining.length > 0 ? [{ t: "en", entries: remaining } satisfies WalRecord] : [])];
    });
  }

  /** A snapshot received from the leader: it replaces everything. */
  async installSnapshot(snapshot: RaftSnapshot, hardState: HardState): Promise<void> {
    await this.compact(snapshot, hardState, []);
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}
