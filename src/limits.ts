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
  /** Smallest frame limit a node or a client may announce: every hello reply and error fits in it. */
  frameBytesFloor: 4 * KiB,
  /** Nesting of msgpack arrays and maps, decoded or encoded: deep enough for any real message, and no stack overflow on a hostile or cyclic one. */
  msgpackDepthMax: 64,

  // Ports a role listens on when --listen is not given (never the ports of RabbitMQ, Redis or NATS).
  /** `--role broker` and --embed-broker. */
  brokerPortDefault: 4800,
  /** `--role coordinator`. */
  coordinatorPortDefault: 4810,
  /** `--role backup`. */
  backupPortDefault: 4811,

  // Connections.
  /** Accepted connections per node: a lab runs hundreds of slaves, never tens of thousands. */
  connectionsMax: 4096,
  /** First size of a connection's outbound buffer, and the size above which an empty one is given back. */
  outboundBufferInitialBytes: 16 * KiB,
  outboundBufferKeepBytes: 1 * MiB,
  /** Bytes queued for one peer before it is cut off as a slow consumer (NATS uses 64 MiB too). */
  outboundBytesMax: 64 * MiB,
  /** Above this many queued outbound bytes a connection is congested: a broker stops pushing deliveries to it, and its requests are not read, until it drains. */
  outboundBytesHighWater: 1 * MiB,
  /** Outbound bytes queued across all of a node's connections: past it every connection holds back (a crowd within their own bounds). */
  outboundBytesTotalMax: 256 * MiB,
  /** Reply bytes one connection's requests may produce in one event-loop turn before it yields to the others. */
  replyBytesPerTurnMax: 256 * KiB,
  /** Request bytes held, unread, while a connection's replies drain: a peer's already-sent bytes; more is a flood (SLOW_CONSUMER). */
  inboundHeldBytesMax: 16 * MiB,
  /** A connection must say hello this soon after connecting, or it is closed: a client says it at once; a starved node waits once more (node_server). */
  helloTimeoutMs: 2_000,
  /** Connections waiting for their hello at once; past it the oldest is evicted: idle or slow strangers never crowd out peers. */
  strangersMax: 64,
  /** Largest frame before hello: a hello with a long token fits; a stranger cannot make us buffer a megabyte. */
  strangerFrameBytesMax: 4 * KiB,
  /** Bytes queued for a connection before hello (its error replies): past it, SLOW_CONSUMER. */
  strangerOutboundBytesMax: 64 * KiB,

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
  /** How long a client looks for its upstream again after losing it, unless its role says otherwise (Infinity: for ever). */
  upstreamLostWindowMs: 60_000,
  /** While looking for an upstream, one log line this often: visible, never a flood. */
  upstreamLogEveryMs: 10_000,

  /** One-way publishes a broker client holds while its broker is away or being restored: a burst, not an archive. */
  heldPublishesMax: 100_000,
  heldPublishBytesMax: 64 * MiB,

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
  /** Elements one lrange/lpop/smembers reply may carry; past it the reply is REPLY_TOO_LARGE, never cut short. */
  replyElementsMax: 100_000,
  /** Values one rpush/lpush/sadd/srem may carry: a request the size of the largest reply. */
  elementsPerRequestMax: 100_000,
  /** Keys one del may name. */
  keysPerRequestMax: 10_000,
  /** Lists one blpop may wait on (Redis has no bound; a handful is every real use). */
  blpopKeysMax: 64,
  /** Delivery numbers one ack or nack may carry: a whole prefetch window and then some. */
  acksPerFrameMax: 65_536,
  /** Header fields of one message: metadata, not a payload. */
  headerKeysMax: 64,
  /** Queue rows in one stats reply (~300 bytes each): 10,000 queues are 10 pages that each fit a 1 MiB frame. */
  statsQueuesPerPageMax: 1_000,
  /** Bytes of queued bodies and stored values across the broker: past this, writes get LIMIT_EXCEEDED. */
  brokerBytesMax: 2 * 1024 * MiB,
  /** Room a delivery's envelope may take beside the message (tag, queue, key, exchange, delivery number: names of ≤ 255 characters): a message is at most frameBytesMax less this. */
  deliveryEnvelopeBytesMax: 4 * KiB,
  /** Default prefetch of a consumer with manual acks (RabbitMQ recommends 100–300). */
  prefetchDefault: 100,
  /** --memory-mb of a broker: from a test's few MiB to a large machine. */
  brokerMemoryMbMin: 1,
  brokerMemoryMbMax: 1024 * 1024,
  /** Messages a purge or delete releases per event-loop turn (the queue is empty at once). */
  releasePerTurnMax: 100_000,
  /** Messages per deliver.batch / publish.batch frame: amortizes per-frame cost, keeps frames well under 1 MiB. */
  batchMessagesMax: 256,
  /** Body bytes per batch frame; a larger message travels alone. */
  batchBytesMax: 256 * KiB,
  /** Length of queue, exchange, channel and key names (AMQP's short string). */
  nameCharsMax: 255,
  /** Length of a --token secret: a password, not a payload. */
  tokenCharsMax: 1_024,
  /** Length of an error's message on the wire: one line; longer ones are cut, so an error never echoes a large input back. */
  errorMessageCharsMax: 1_024,
  /** Length of a correlation id: request ids and UUIDs fit many times over. */
  correlationIdCharsMax: 1_024,

  // Mutual exclusion.
  /** Slaves in one round: every grant reaches every slave's queue, so N² deliveries; 1000² is a second's work. */
  mutexSlavesMax: 1_000,
  /** The round's name when --round is not given. */
  mutexRoundDefault: "mutex",
  /** Largest number a slave appends (the seed draws 0..1000). */
  mutexValueMax: 1_000,
  /** Heartbeat `run mutex` uses above 100 slaves: hundreds of starting processes starve each other for seconds. */
  mutexLargeRoundHeartbeatMs: 2_000,
  /** Processes the launcher lets boot at once: small rounds start together; 500 at once starve the broker for seconds. */
  launcherStartingMax: 32,
  /** How long a leader that hosts the broker waits for slaves to read "done" and leave before exiting. */
  mutexLingerMs: 5_000,

  // MapReduce.
  /** Default --reduces: a few partitions per core on a lab's machines. */
  reducesDefault: 10,
  /** Largest --reduces: every map sends one partition per reduce, so R bounds a map's reply count. */
  reducesMax: 1_000,
  /** Map tasks in one job: 1 TB of input in 256 KiB splits stays under it; task numbers are bounded by it on the wire. */
  mapreduceTasksMax: 4_000_000,
  /** Target size of a map's input split: big enough that per-task costs vanish, small enough that one map's output sits in memory while it is grouped. */
  splitBytesMax: 256 * KiB,
  /** --split-kb: small splits make many map tasks of a small input (labs, torture). */
  splitKbMin: 1,
  /** A split grows past splitBytesMax only to keep one whitespace-free token whole; longer than this, the input is refused (it must fit in a task frame). */
  splitBytesCeiling: 8 * MiB,
  /** Frame bound for coordinator and workers: a map task carries its split, a reduce its output, a fetch reply one chunk. */
  mapreduceFrameBytesMax: 16 * MiB,
  /** Bytes of intermediate data a worker (or --sequential) keeps in memory while reducing before it spills a sorted run to disk. */
  spillBytesDefault: 64 * MiB,
  /** --spill-mb: from a toy bound to most of a big machine. */
  spillMbMin: 1,
  spillMbMax: 64 * 1024,
  /** Bytes of one record ([key, values]) in a map output or a spilled run: a key with more values is written as several records. */
  recordBytesTarget: 256 * KiB,
  /** Largest record a reader accepts: recordBytesTarget plus one value of any size a frame can carry. */
  recordBytesMax: 32 * MiB,
  /** Bytes of map output one mr.fetch reply carries: a few round trips per partition, well inside a frame. */
  fetchChunkBytes: 1 * MiB,
  /** Values of one key gathered before the app's combine folds them (when it has one): bounds a hot key's list. */
  combineEveryValues: 64,
  /** How often the coordinator reports progress. */
  progressEveryMs: 250,
  /** How long a coordinator lets its exit notices go out before it stops serving. */
  exitNoticeMs: 100,
  /** How long a finished coordinator waits for workers of the job that are not connected (mid-reconnect) to come by and hear it ended. */
  exitLingerMs: 5_000,
  /** Consecutive failed mr.next calls (other than a lost connection) before a worker gives up: a bug, not a hiccup. */
  workerCallFailuresMax: 50,
  /** Default --task-timeout-ms: a live but silent worker's task goes to another after this. */
  taskTimeoutMs: 10_000,
  /** Failures of one task (the app threw) before the job fails with the app's message. */
  taskAttemptsMax: 3,
  /** Map outputs one reduce fetches at once: enough to hide round trips, few enough not to flood the workers serving them. */
  fetchesInFlightMax: 16,
  /** How long a reducer tries to reach a worker holding map output before reporting the fetch failed (the map is then re-run). */
  fetchConnectWindowMs: 2_000,
  /** Times a worker reports a finished task across reconnects before dropping it (the task then runs again elsewhere). */
  reportTriesMax: 3,
  /** How long an idle worker waits before asking again. */
  workerPollMs: 20,
  /** How long a backup's snapshot may take to stream (every split and completed result of a large job). */
  backupSyncTimeoutMs: 600_000,
  /** How long a coordinator waits for its workers (connected, or known and reconnecting) to acknowledge a new backup's address before counting the backup in sync. */
  backupAnnounceTimeoutMs: 5_000,
  /** How long a backup keeps trying to reach a coordinator it lost before taking over: a blip or a pause is not a death. */
  backupTakeoverAfterMs: 2_000,
  /** Tries of a backup to register again after a blip, while the coordinator still counts its old connection (200 ms apart). */
  backupRegisterTriesMax: 25,
  /** After losing its coordinator, how long a worker retries only that one before trying the others: it moves only if it must. */
  coordinatorStickyMs: 2_000,
  /** How long a worker keeps trying to reach a coordinator it has lost (its own, then every other it knows) before exiting 3. */
  coordinatorLostMs: 30_000,
  /** --coordinator-lost-ms: up to a day (a job may wait out a long repair). */
  coordinatorLostMsMax: 86_400_000,
  /** How long a worker started before its coordinator waits for it: labs start terminals in any order. */
  coordinatorFirstConnectMs: 30_000,
  /** A coordinator with no worker for this long says so on its status line and in mr.status. */
  noWorkersWarnMs: 5_000,

  // Storage (seed 003).
  /** `--role storage` default port. */
  storagePortDefault: 4820,
  /** Frames between storage nodes and clients: a batch of Raft messages, a snapshot of a shard. */
  storageFrameBytesMax: 64 * MiB,
  /** Client: per request, and retries of what certainly did not happen (redirects, unavailable). */
  storageClientTimeoutMs: 5_000,
  /** About 8 s of patience at the backoff cap: longer than an election after a leader's death. */
  storageClientRetriesMax: 40,
  /** Small, so a client finds a new leader within ~200 ms of its election (at 500 ms, writes resumed ~1 s after a leader's kill). */
  storageClientBackoffMsMax: 200,
  /** Client: how long it tries to connect to one node before trying another (0: once; a refused node is skipped at once). */
  storageClientConnectWindowMs: 0,
  /** How long a joining node keeps asking to be added. */
  storageJoinWindowMs: 30_000,
  /** Voters and learners of one replication group: a shard's replicas during a move (R + 1) and then some. */
  storageGroupMembersMax: 16,
  /** Log entries in one append message: catches a follower up quickly without one huge frame. */
  raftEntriesPerMessageMax: 512,
  /** Raft messages gathered in one frame from one node to another (all shards' groups, one turn). */
  raftMessagesPerFrameMax: 4_096,
  /** Characters of a key. */
  storageKeyCharsMax: 1_024,
  /** Bytes of a stored value (msgpack-encoded): a value is a record, not a file. */
  storageValueBytesMax: 64 * KiB,
  /** Shards of a cluster: fixed at start (--shards); each is one replication group. */
  storageShardsMax: 1_024,
  storageShardsDefault: 8,
  /** Nodes in a cluster. */
  storageNodesMax: 256,
  /** --versions-max: the seed keeps 10. */
  storageVersionsDefault: 10,
  storageVersionsMaxMax: 1_000,
  /** --replicas default: a majority survives one failure. */
  storageReplicasDefault: 3,
  /** Keys a storage node holds in all (each with up to versions-max values). */
  storageKeysMax: 10_000_000,
  /** Watches one connection may hold. */
  storageWatchesPerConnectionMax: 1_024,
  /** One tick of the storage nodes' Raft clocks; elections after 12–24 ticks, heartbeats every 3. */
  raftTickMs: 25,
  raftElectionTicks: 12,
  raftHeartbeatTicks: 3,
  /** A replica the placement moved away that no leader reached for this long stops ticking (no futile elections). */
  storageDormantAfterMs: 10_000,
  /** How often a group's leader moves its membership a step toward the placement. */
  storageReconcileEveryMs: 300,
  /** A write waits this long to be applied before it is answered TIMEOUT (indefinite: it may still happen). */
  storageProposalTimeoutMs: 5_000,
  /** Bytes of WAL past which a group snapshots its state and rewrites the WAL. */
  walBytesCompact: 32 * MiB,
  /** Gossip mode: updates and digest keys in one frame. */
  gossipUpdatesPerFrameMax: 4_096,
  storageKeysPerDigestMax: 100_000,
  /** Gossip mode: default interval between anti-entropy rounds. */
  gossipMsDefault: 200,
  /** Gossip mode: a 2PC lock (tpc.prepare) whose decision never came (its coordinator died) is dropped after this: the key is blocked that long at most. */
  gossipLockMs: 2_000,
  /** Gossip mode: how long a 2PC coordinator waits for votes (then aborts) and for decide acks. */
  gossipVoteTimeoutMs: 1_000,
  /** Gossip mode: how long a 2PC coordinator waits for a link to a replica that is not connected (then leaves it out as dead). */
  gossipPeerWaitMs: 200,
  /** Gossip mode: how long a replica behind a client's session pulls from its peers before answering UNAVAILABLE (the client tries another replica). */
  gossipCatchUpMs: 500,
  /** Gossip mode: one anti-entropy round's request timeout (a silent peer is skipped until the next round). */
  gossipRoundTimeoutMs: 2_000,
  /** Gossip mode: value bytes in one digest reply or push (the rest goes next round), well under storageFrameBytesMax. */
  gossipPushBytesMax: 8 * MiB,
  /** Gossip mode: bytes of update log past which the node writes a snapshot and starts a new log. */
  gossipLogBytesCompact: 32 * MiB,
  /** Gossip mode: "shard/replica" stamps in one session (a client sends one shard's). */
  storageSessionStampsMax: 1_024,

  // Scenarios (`./node run …`, npm start).
  /** The MapReduce demo gives up, and says so, after this long: a few MB take seconds. */
  demoTimeoutMs: 300_000,
  /** A `run mutex` round gives up after this long: 1000 slaves take about a minute on 2 cores. */
  mutexRunTimeoutMs: 600_000,

  // Local processes (src/launcher): scenarios, tests, the autoscaler.
  /** How long a started process may take to print its listening line. */
  processStartTimeoutMs: 15_000,
  /** Tries to restart a process on the port it had (the old socket may linger a moment), 100 ms apart. */
  processRestartTriesMax: 20,
  /** stdout and stderr kept per child process, in characters: the newest; older ones are dropped (a chatty child cannot eat the parent's memory). */
  processOutputCharsMax: 4 * MiB,

  // Flags' ranges.
  /** --task-timeout-ms: from a blink to an hour. */
  taskTimeoutMsMin: 100,
  taskTimeoutMsMax: 3_600_000,
  /** --task-delay-ms of a worker (a simulated slow machine): at most a minute per task. */
  taskDelayMsMax: 60_000,
  /** `run mapreduce --workers`: a few per core of a lab machine. */
  demoWorkersMax: 64,
  /** `run mapreduce --size-mb`: the demo generates its corpus in memory. */
  demoSizeMbMax: 1_024,

  // Broker store.
  /** How often expired keys are swept, and how many keys one sweep may look at (bounded work per tick). */
  storeSweepEveryMs: 1_000,
  storeSweepKeysMax: 10_000,

  // Shutdown.
  /** How long a closing connection may flush its last bytes (and its error frame) before the socket is cut. */
  closeFlushMs: 2_000,
  /** How long SIGINT/SIGTERM waits for outbound buffers to flush before exiting anyway. */
  shutdownGraceMs: 1_000,
} as const;

export type Limits = typeof limits;
