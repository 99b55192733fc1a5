// Error codes of the peer-node protocol. Stable: a code is never reused for another meaning.
// `definite: true` means the operation certainly did not happen; `false` means it may have
// (Maelstrom's definite/indefinite distinction), so a client knows whether a retry is safe.

export interface ErrorCodeInfo {
  readonly code: number;
  readonly definite: boolean;
  /** Whether the sender closes the connection right after sending this error. */
  readonly closes: boolean;
  readonly summary: string;
}

export const ErrorCodes = {
  // Transport and framing (1–19).
  FRAME_TOO_LARGE: { code: 1, definite: true, closes: true, summary: "length prefix exceeds the receiver's frameBytesMax" },
  MALFORMED_FRAME: { code: 2, definite: true, closes: true, summary: "frame body is not valid msgpack" },
  BAD_ENVELOPE: { code: 3, definite: true, closes: false, summary: "body is not a map, lacks a string op, or has a bad id/re" },
  UNKNOWN_OP: { code: 4, definite: true, closes: false, summary: "no handler for this op on this node" },
  HELLO_REQUIRED: { code: 5, definite: true, closes: false, summary: "a message other than hello arrived before the handshake" },
  VERSION_MISMATCH: { code: 6, definite: true, closes: true, summary: "hello carried a protocol version this node does not speak" },
  AUTH_FAILED: { code: 7, definite: true, closes: true, summary: "hello carried a missing or wrong token" },
  TOO_MANY_CONNECTIONS: { code: 8, definite: true, closes: true, summary: "the node is at its connection limit" },
  SLOW_CONSUMER: { code: 9, definite: false, closes: true, summary: "the peer did not read fast enough; its outbound buffer overflowed" },
  HELLO_TIMEOUT: { code: 10, definite: true, closes: true, summary: "no hello arrived within helloTimeoutMs" },
  ALREADY_HELLO: { code: 11, definite: true, closes: false, summary: "hello sent twice on one connection" },
  NODE_ID_IN_USE: { code: 12, definite: true, closes: true, summary: "a broker already has a live connection with this hello's node id and role" },

  // Requests (20–39).
  TIMEOUT: { code: 20, definite: false, closes: false, summary: "no reply within the request timeout (local)" },
  CONNECTION_LOST: { code: 21, definite: false, closes: false, summary: "the connection closed before the reply arrived (local)" },
  TOO_MANY_PENDING: { code: 22, definite: true, closes: false, summary: "too many requests awaiting replies (local)" },
  PEER_DEAD: { code: 23, definite: false, closes: true, summary: "the peer missed missedHeartbeatsMax heartbeats" },
  SHUTTING_DOWN: { code: 24, definite: true, closes: true, summary: "the node is shutting down" },
  BAD_ARGUMENT: { code: 25, definite: true, closes: false, summary: "a field is missing, has the wrong type or is out of range" },
  INTERNAL: { code: 26, definite: false, closes: false, summary: "a bug in the node; the message says where" },
  NOT_CONNECTED: { code: 27, definite: true, closes: false, summary: "the client has no open connection (local)" },
  REPLY_TOO_LARGE: { code: 28, definite: true, closes: false, summary: "the reply would exceed the requester's frameBytesMax or an element bound; nothing was changed: ask for less" },
  WRONG_PEER: { code: 29, definite: true, closes: false, summary: "the node at that address does not serve the protocol asked for (local)" },
  TOO_LARGE_FOR_PEER: { code: 30, definite: true, closes: false, summary: "the message is larger than the frameBytesMax the peer announced; nothing was sent (local)" },

  // Broker (40–59).
  NOT_FOUND: { code: 40, definite: true, closes: false, summary: "the named queue, exchange, delivery, key or version does not exist" },
  WRONG_TYPE: { code: 41, definite: true, closes: false, summary: "the key holds a value of another type (a list where a set was asked, ...)" },
  QUEUE_FULL: { code: 42, definite: true, closes: false, summary: "the queue is at maxLength and its overflow policy rejects publishes" },
  LIMIT_EXCEEDED: { code: 43, definite: true, closes: false, summary: "a broker-wide bound (queues, keys, consumers, memory) is reached" },
  RESOURCE_LOCKED: { code: 44, definite: true, closes: false, summary: "the queue is exclusive to another connection" },
  PRECONDITION_FAILED: { code: 45, definite: true, closes: false, summary: "the object exists with different properties (e.g. an exchange of another type)" },

  // Storage (60–79).
  NOT_LEADER: { code: 60, definite: true, closes: false, summary: "this node does not lead the key's shard; nothing was done: go to `hint` (an address) if given" },
  UNAVAILABLE: { code: 61, definite: true, closes: false, summary: "temporarily unavailable: the shard has no reachable majority from here; nothing was done, try again later" },
  VERSION_GONE: { code: 62, definite: true, closes: false, summary: "the version asked for is older than the versions the store keeps" },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorName = keyof typeof ErrorCodes;

const byCode = new Map<number, ErrorName>(
  (Object.keys(ErrorCodes) as ErrorName[]).map((name) => [ErrorCodes[name].code, name]),
);

/** The name for a numeric code, or undefined for a code this version does not know. */
export function errorNameOf(code: number): ErrorName | undefined {
  return byCode.get(code);
}
