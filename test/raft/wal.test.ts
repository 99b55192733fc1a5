// Goal: what the Raft WAL and the gossip log stand on keeps every synced record across a reopen,
// ignores a torn tail, and compacts without losing a record added while the compaction waited;
// the WAL's compaction (never reached by the other tests: it starts at 32 MiB) leaves the snapshot
// and the entries after it. Method: real files in a temp dir, reopened as a restarted node would.

import { afterAll, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RaftEntry } from "../../src/raft/raft_node.ts";
import { Wal } from "../../src/raft/wal.ts";
import { RecordLog } from "../../src/runtime/record_log.ts";

const dir = mkdtempSync(join(tmpdir(), "peer-node-wal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("synced records come back in order after a reopen; a torn last record is ignored", async () => {
  const path = join(dir, "log-a");
  const { log, records } = RecordLog.open(path, true);
  expect(records).toEqual([]);
  for (let i = 0; i < 100; i++) log.add({ i, text: "x".repeat(i) });
  await log.sync();
  log.add(["last"]);
  await log.close();
  appendFileSync(path, new Uint8Array([0, 0, 1, 0, 0x81])); // a frame cut short, as a crash mid-write leaves it
  const again = RecordLog.open(path, false);
  expect(again.records).toEqual([...Array.from({ length: 100 }, (_, i) => ({ i, text: "x".repeat(i) })), ["last"]]);
  expect(again.log.bytes).toBe(readFileSync(path).length);
  await again.log.close();
});

test("rewrite waits for what is pending, then replaces the file; records added afterwards follow", async () => {
  const path = join(dir, "log-b");
  const { log } = RecordLog.open(path, false);
  log.add("a");
  const rewritten = log.rewrite(() => {
    // Everything added before contentsOf runs is already in the file it replaces.
    expect(RecordLog.open(path, false).records).toEqual(["a", "b"]);
    return ["snapshot"];
  });
  log.add("b"); // pending while the rewrite waits
  await rewritten;
  log.add("c");
  await log.close();
  expect(RecordLog.open(path, false).records).toEqual(["snapshot", "c"]);
});

test("the WAL's compaction keeps the snapshot, the hard state and the entries after it; a reopen reads them back", async () => {
  const walDir = join(dir, "wal");
  const entry = (index: number): RaftEntry => ({ index, term: 2, kind: "normal", data: { n: index } });
  const { wal } = await Wal.open(walDir, true);
  wal.saveHardState({ term: 2, vote: "s1", commit: 8 });
  wal.saveEntries([1, 2, 3, 4, 5, 6, 7, 8].map(entry));
  await wal.sync();
  const bytesBefore = wal.bytes;
  await wal.compact({ index: 5, term: 2, membership: { voters: ["s1"], learners: [] }, data: "state at 5" }, { term: 2, vote: "s1", commit: 8 }, [6, 7, 8].map(entry));
  expect(wal.bytes).toBeLessThan(bytesBefore);
  wal.saveEntries([entry(9)]);
  await wal.close();
  const { wal: reopened, contents } = await Wal.open(walDir, true);
  expect(contents.snapshot?.index).toBe(5);
  expect(contents.snapshot?.data).toBe("state at 5");
  expect(contents.hardState).toEqual({ term: 2, vote: "s1", commit: 8 });
  expect(contents.entries.map((e) => e.index)).toEqual([6, 7, 8, 9]);
  await reopened.close();
});
