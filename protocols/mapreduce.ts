// The MapReduce protocol: workers and backups connect to the coordinator (core protocol, role
// "worker" or "backup") and ask for work. No shared filesystem: a map task carries its split; a
// map's output stays on the worker that made it, which serves it to reducers (`mapreduceFetch`);
// the coordinator keeps only where each map's output is, and receives the reduce outputs. Four
// tables: `mapreduce` (served by the coordinator), `mapreduceWorker` (what a coordinator sends its
// workers), `mapreduceFetch` (served by every worker) and `mapreduceBackup` (what a coordinator
// sends its backup). Spec: protocols/mapreduce.md.

import { limits } from "../src/limits.ts";
import { message, protocol, request, type ReplyOf } from "./protocol.ts";
import { t, type Infer } from "./schema.ts";

/** Free text whose size only the frame bounds (split contents, outputs, keys). */
const text = t.string(limits.frameBytesCeiling);
const index = t.int(0, limits.mapreduceTasksMax);
const attempt = t.int(1, Number.MAX_SAFE_INTEGER);
const address = t.string(limits.nameCharsMax, 1);
const count = t.int(0, Number.MAX_SAFE_INTEGER);

/** How a worker gets the application: by built-in name, or as module source sent by the coordinator. */
export const appSpec = t.union("name", {
  wc: t.object({}),
  indexer: t.object({}),
  module: t.object({ filename: t.string(limits.nameCharsMax, 1), source: text }),
});
export type AppSpec = Infer<typeof appSpec>;

export const task = t.union("kind", {
  map: t.object({
    task: index,
    attempt,
    /** The input's name, as the app's map sees it (a large file is several splits of one name). */
    file: text,
    contents: text,
    reduces: t.int(1, limits.reducesMax),
    app: appSpec,
  }),
  reduce: t.object({
    task: index,
    attempt,
    app: appSpec,
    /** Where the maps' outputs are: fetch addresses, referred to by position in `sources`. */
    addresses: t.array(address, limits.mapreduceTasksMax),
    /** Every map with output for this partition, in map order: [map, index into addresses, bytes]. */
    sources: t.array(t.tuple([index, index, count], 3), limits.mapreduceTasksMax),
  }),
});
export type Task = Infer<typeof task>;
export type MapTask = Extract<Task, { kind: "map" }>;
export type ReduceTask = Extract<Task, { kind: "reduce" }>;

const jobStatus = t.object({
  maps: count,
  mapsDone: count,
  reduces: count,
  reducesDone: count,
  workers: count,
  reassignments: count,
  retries: count,
  takeovers: count,
  /** How long the coordinator has had no worker (0 while it has some). */
  noWorkersMs: count,
  /** Completed maps run again because the worker holding their output was lost. */
  mapsLost: count,
});
export type JobStatus = Infer<typeof jobStatus>;

/** Where a completed map's output is: the worker's fetch address and the bytes of each partition. */
const mapLocation = { address, partitionBytes: t.array(count, limits.reducesMax, 1) };

export const syncEvent = t.union("event", {
  split: t.object({ index, file: text, contents: text }),
  mapped: t.object({ task: index, worker: address, ...mapLocation }),
  /** A completed map must run again: the worker holding its output is gone. */
  unmapped: t.object({ task: index }),
  reduced: t.object({ task: index, output: text }),
  "in-sync": t.object({}),
});
export type SyncEvent = Infer<typeof syncEvent>;

/** Served by the coordinator (and by a backup once it has taken over). */
export const mapreduce = protocol("mapreduce", "served by the coordinator; sent by workers, backups and observers", {
  "mr.next": request(
    t.object({}),
    t.object({
      /** A task to run now; or `wait` ms before asking again; or `exit`: the job is over. */
      task: t.optional(task),
      wait: t.optional(t.int(0, limits.requestTimeoutMs)),
      exit: t.optional(t.bool),
      /** The backup coordinator's address, once one is in sync: where to go if this coordinator dies. */
      backup: t.optional(address),
    }),
    { summary: "a worker asks for work" },
  ),
  "mr.mapped": request(t.object({ task: index, attempt, ...mapLocation }), t.object({}), {
    summary: "a map is done: its output is at `address` (the worker serves mr.fetch there); the reply means the backup knows too",
  }),
  "mr.fetch-failed": request(t.object({ task: index, attempt, map: index, address, error: t.string(limits.errorMessageCharsMax) }), t.object({}), {
    summary: "a reduce could not fetch a map's output: if it was there, every map whose output is at that address runs again; this reduce attempt ends",
  }),
  "mr.reduced": request(t.object({ task: index, attempt, output: text }), t.object({}), { summary: "a reduce's output file text; the reply means it is written" }),
  "mr.failed": request(t.object({ kind: t.oneOf(["map", "reduce"]), task: index, attempt, error: t.string(limits.errorMessageCharsMax) }), t.object({}), {
    summary: "the app threw; the task is retried, and the job fails after taskAttemptsMax failures",
  }),
  "mr.backup.register": request(
    t.object({ address }),
    t.object({ splits: count, reduces: t.int(1, limits.reducesMax), outDir: text, app: appSpec, taskTimeoutMs: count, takeovers: count }),
    { summary: "a backup registers and learns the job's shape", errors: ["PRECONDITION_FAILED"] },
  ),
  "mr.backup.sync": request(t.object({}), t.object({}), {
    summary: "the backup is ready for state: the coordinator streams it (mr.sync) and replies once in sync",
    errors: ["PRECONDITION_FAILED"],
  }),
  "mr.status": request(t.object({}), jobStatus, { summary: "where the job stands (progress displays, demos)" }),
});

/** What a coordinator sends its workers. */
export const mapreduceWorker = protocol("mapreduce.worker", "sent by the coordinator; served by workers", {
  "mr.backup": request(t.object({ address }), t.object({}), {
    summary: "a backup is in sync: where to go if this coordinator dies; the backup counts as in sync once every worker answered",
  }),
  "mr.exit": message(t.object({ code: t.int(0, 255) }), { summary: "the job is over: exit with this code (outputs are final)" }),
});

/** Served by every worker on its fetch address: the map outputs it holds. */
export const mapreduceFetch = protocol("mapreduce.fetch", "served by workers; sent by reducers (other workers)", {
  "mr.fetch": request(
    t.object({ map: index, partition: index, offset: count }),
    t.object({ data: t.bytes, done: t.bool }),
    { summary: "up to fetchChunkBytes of one map's output for one partition, from `offset`; `done` once the partition is through", errors: ["NOT_FOUND"] },
  ),
});

/** What a coordinator sends its backup, on the backup's connection. */
export const mapreduceBackup = protocol("mapreduce.backup", "sent by the coordinator; served by its backup", {
  "mr.sync": request(syncEvent, t.object({}), { summary: "one piece of state (split, completed or lost map, completed reduce, in-sync); answered once applied" }),
  "mr.exit": message(t.object({ code: t.int(0, 255) }), { summary: "the job is over: exit with this code" }),
});

export type NextReply = ReplyOf<typeof mapreduce, "mr.next">;
export type BackupWelcome = ReplyOf<typeof mapreduce, "mr.backup.register">;
