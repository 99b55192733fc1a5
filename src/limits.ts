// Every limit and default of peer-node in one place, each with the reason for its value.
// Flags may override some of them per process; nothing else in src/ hard-codes a bound.

const KiB = 1024;
const MiB = 1024 * KiB;

export const limits = {
  // Frames: one msgpack body behind a 4-byte big-endian length.
  /** Largest frame body accepted by default: big enough for a MapReduce split, small enough that one bad peer cannot make us allocate much. */
  frameBytesMax: 1 * MiB,
  /** Hard ceiling for --frame-bytes-max: the length prefix is 32-bit, but nobody needs frames beyond this on loopback labs. */
  frameBytesCeiling: 64 * MiB,

  // Connections.
  /** Accepted connections per node: a lab runs hundreds of slaves, never tens of thousands. */
  connectionsMax: 4096,
  /** Bytes queued for one peer before it is cut off as a slow consumer (NATS uses 64 MiB too). */
  outboundBytesMax: 64 * MiB,
  /** Above this many queued outbound bytes a broker stops pushing deliveries to the connection until it drains. */
  outboundBytesHighWater: 1 * MiB,
  /** A connection must say hello this soon after connecting, or it is closed: no idle half-open sockets. */
  helloTimeoutMs: 5_000,

  // Requests.
  /** Outstanding requests per connection: bounds the memory of a caller that never gets replies. */
  pendingRequestsMax: 65_536,
  /** Default timeout of one request: long enough for a loaded 2-core machine, short enough to notice a hang. */
  requestTimeoutMs: 10_000,

  // Heartbeats: a dead peer must be detected within 2 s on loopback.
  /** Ping interval; with missedHeartbeatsMax = 3 a silent peer is declared dead after 1.5–2.0 s. */
  heartbeatMs: 500,
  /** Intervals of silence before a peer is declared dead: 3 tolerates one late GC pause or scheduler hiccup. */
  missedHeartbeatsMax: 3,
  /** Smallest --heartbeat-ms accepted: below this, timer jitter alone would declare live peers dead. */
  heartbeatMsMin: 20,
  /** Largest --heartbeat-ms accepted: an hour of silence is not a heartbeat any more. */
  heartbeatMsMax: 3_600_000,

  // Reconnects of client connections.
  /** First reconnect delay: quick enough that a restarted peer is found within a heartbeat. */
  reconnectDelayMsMin: 50,
  /** Backoff ceiling: a lab machine should not wait long for a peer that came back. */
  reconnectDelayMsMax: 2_000,
  /** How long a role keeps trying its first connection: in a lab, terminals start in any order. */
  firstConnectWindowMs: 3_000,
  /** Attempts before a client gives up; at the ceiling that is about a minute of trying. */
  reconnectAttemptsMax: 40,

  // Broker.
  /** Queues per broker: every queue costs a little memory and a stats row. */
  queuesMax: 10_000,
  /** Exchanges per broker, for the same reason. */
  exchangesMax: 1_000,
  /** Bindings per broker: fanout to thousands of queues is plenty for the seeds' patterns. */
  bindingsMax: 100_000,
  /** Messages per queue when the declare gives no maxLength: holds the 1M-message memory test with room. */
  queueLengthDefault: 2_000_000,
  /** Largest maxLength a declare may ask for. */
  queueLengthMax: 10_000_000,
  /** Consumers per broker (all connections): a lab's worker pool is far smaller. */
  consumersMax: 10_000,
  /** Largest prefetch a consumer may ask for; 0 means unlimited (then only TCP backpressure brakes). */
  prefetchMax: 65_535,
  /** Pub/sub subscriptions per connection. */
  subscriptionsPerConnectionMax: 1_000,
  /** Keys in the shared store. */
  keysMax: 1_000_000,
  /** Elements in one list or set. */
  collectionLengthMax: 10_000_000,
  /** Clients blocked in blpop at once. */
  blockedClientsMax: 10_000,
  /** Longest blpop wait; 0 in the request means this long (Redis's "forever", but bounded). */
  blockTimeoutMsMax: 3_600_000,
  /** Elements one lrange/lpop/smembers reply may carry, so a reply always fits in a frame. */
  replyElementsMax: 100_000,
  /** Bytes of queued bodies and stored values across the broker: past this, writes get LIMIT_EXCEEDED. */
  brokerBytesMax: 2 * 1024 * MiB,
  /** Messages per deliver.batch / publish.batch frame: amortizes per-frame cost, keeps frames well under 1 MiB. */
  batchMessagesMax: 256,
  /** Body bytes per batch frame; a larger message travels alone. */
  batchBytesMax: 256 * KiB,
  /** Length of queue, exchange, channel and key names (AMQP's short string). */
  nameCharsMax: 255,

  // Mutual exclusion.
  /** Slaves in one round: every grant reaches every slave's queue, so N² deliveries; 1000² is a second's work. */
  mutexSlavesMax: 1_000,
  /** Heartbeat `run mutex` uses above 100 slaves: hundreds of starting processes starve each other for seconds. */
  mutexLargeRoundHeartbeatMs: 2_000,
  /** Processes the launcher lets boot at once: small rounds start together; 500 at once starve the broker for seconds. */
  launcherStartingMax: 32,
  /** How long a leader that hosts the broker waits for slaves to read "done" and leave before exiting. */
  mutexLingerMs: 5_000,

  // MapReduce.
  /** Largest map input: a split and its grouped output stay well inside a frame. */
  splitBytesMax: 256 * KiB,
  /** Frame bound for coordinator and workers: reduce outputs and fetches can pass 1 MiB. */
  mapreduceFrameBytesMax: 16 * MiB,
  /** Default --task-timeout-ms: a live but silent worker's task goes to another after this. */
  taskTimeoutMs: 10_000,
  /** Failures of one task (the app threw) before the job fails with the app's message. */
  taskAttemptsMax: 3,
  /** How long an idle worker waits before asking again. */
  workerPollMs: 20,
  /** How long a worker keeps trying to reach a coordinator it has lost before exiting (or failing over). */
  coordinatorLostMs: 3_000,
  /** How long a worker started before its coordinator waits for it: labs start terminals in any order. */
  coordinatorFirstConnectMs: 30_000,

  // Shutdown.
  /** How long SIGINT/SIGTERM waits for outbound buffers to flush before exiting anyway. */
  shutdownGraceMs: 1_000,
} as const;

export type Limits = typeof limits;
