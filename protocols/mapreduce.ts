// The MapReduce protocol: workers connect to the coordinator (core protocol, role "worker") and
// ask for work. No shared filesystem: splits, intermediate data and results travel in frames.
// Spec: protocols/mapreduce.md (to come with the backup); every message is typed here.

/** How a worker gets the application: by built-in name, or as module source sent by the coordinator. */
export type AppSpec = { name: "wc" | "indexer" } | { name: "module"; filename: string; source: string };

export interface MapTask {
  kind: "map";
  task: number;
  attempt: number;
  /** The input's name, as the app's map sees it (a large file is several splits of one name). */
  file: string;
  contents: string;
  reduces: number;
  app: AppSpec;
}

export interface ReduceTask {
  kind: "reduce";
  task: number;
  attempt: number;
  app: AppSpec;
  /** Map tasks whose output for this partition the worker fetches with mr.fetch. */
  maps: number;
}

/** Worker → coordinator, request. Reply: NextReply. */
export interface NextRequest { op: "mr.next" }
export type NextReply = ({ task: MapTask | ReduceTask } | { wait: number } | { exit: true }) & {
  /** The backup coordinator's address, once one is in sync: where to go if this coordinator dies. */
  backup?: string;
};

/** Grouped pairs of one partition: [key, values[]][]. */
export type Grouped = Array<[string, string[]]>;

/** Worker → coordinator, request: the R grouped partitions of a finished map. */
export interface Mapped { op: "mr.mapped"; task: number; attempt: number; partitions: Grouped[] }
/** Worker → coordinator, request: one map's output for one partition. Reply {groups: Grouped}. */
export interface Fetch { op: "mr.fetch"; partition: number; map: number }
/** Worker → coordinator, request: the text of mr-out-<task>. */
export interface Reduced { op: "mr.reduced"; task: number; attempt: number; output: string }
/** Worker → coordinator, request: the app threw. */
export interface TaskFailed { op: "mr.failed"; kind: "map" | "reduce"; task: number; attempt: number; error: string }
/** Coordinator → worker, one-way, when a backup is in sync: where to go if this coordinator dies. */
export interface BackupAnnounce { op: "mr.backup"; address: string }
/** Coordinator → worker, one-way: the job is over; exit with this code. */
export interface Exit { op: "mr.exit"; code: number }

// ---- backup coordinator --------------------------------------------------------------------
// The rule: the backup holds every completed result before the coordinator acknowledges it to the
// worker. Assignments are not mirrored: at takeover every unfinished task is idle again (a task in
// progress may run twice across a takeover; the first completion wins and outputs are identical).

/** Backup → coordinator, request. Reply: BackupWelcome (the job's shape). */
export interface BackupRegister { op: "mr.backup.register"; address: string }
/**
 * Backup → coordinator, request, once the backup is ready to receive state: the coordinator sends
 * the snapshot as mr.sync requests, mirrors every later completion the same way, and replies when
 * the snapshot ("in-sync") is through. (Asking separately avoids state arriving before the backup
 * has read the welcome.)
 */
export interface BackupSync { op: "mr.backup.sync" }
export interface BackupWelcome { splits: number; reduces: number; outDir: string; app: AppSpec; taskTimeoutMs: number; takeovers: number }

/** Coordinator → backup, request (answered ok once applied). */
export type SyncEvent =
  | { event: "split"; index: number; file: string; contents: string }
  | { event: "mapped"; task: number; partitions: Grouped[] }
  | { event: "reduced"; task: number; output: string }
  | { event: "in-sync" };
export type Sync = { op: "mr.sync" } & SyncEvent;

/** Anyone → coordinator, request: where the job stands (for progress displays and demos). */
export interface StatusRequest { op: "mr.status" }
export interface JobStatus { maps: number; mapsDone: number; reduces: number; reducesDone: number; workers: number; reassignments: number; retries: number; takeovers: number }
