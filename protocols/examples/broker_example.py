#!/usr/bin/env python3
"""A peer-node broker client in plain Python, written from protocols/README.md and broker.md only.

Standard library only (Python 3.8+): the small msgpack codec it needs is below.

Usage:
  broker_example.py HOST:PORT                 a short demo: a queue, confirmed publishes, consuming
                                              with acks, a shared list and a typed error
  broker_example.py --conformance HOST:PORT   check every broker op against the spec, one line per
                                              check, then `covered: ...` and `N passed, M failed`;
                                              exit 0 only when nothing failed
"""
import os
import socket
import struct
import sys
import time

USAGE = "usage: broker_example.py [--conformance] HOST:PORT"

# ---------------------------------------------------------------------------------------------
# msgpack (README section 1): ints in their smallest integer format, floats as float64, str,
# bytes as bin, list/tuple as array, dict as map, None and bools. No extension types.


class MsgpackError(ValueError):
    pass


class Raw:
    """Bytes written into a message verbatim: to send an encoding a plain encoder would not choose
    (a uint64-encoded small id, an extension type, ...)."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = bytes(data)


class Ext:
    """A msgpack extension value found in a payload."""

    __slots__ = ("type", "data")

    def __init__(self, ext_type, data):
        self.type = ext_type
        self.data = data

    def __eq__(self, other):
        return isinstance(other, Ext) and (self.type, self.data) == (other.type, other.data)

    def __repr__(self):
        return "Ext(%d, %r)" % (self.type, self.data)


def packb(value):
    out = bytearray()
    _pack(value, out)
    return bytes(out)


def _pack(v, out):
    if v is None:
        out.append(0xC0)
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif isinstance(v, Raw):
        out += v.data
    elif isinstance(v, int):
        if v >= 0:
            if v < 0x80:
                out.append(v)
            elif v <= 0xFF:
                out += b"\xcc" + struct.pack(">B", v)
            elif v <= 0xFFFF:
                out += b"\xcd" + struct.pack(">H", v)
            elif v <= 0xFFFFFFFF:
                out += b"\xce" + struct.pack(">I", v)
            elif v <= 0xFFFFFFFFFFFFFFFF:
                out += b"\xcf" + struct.pack(">Q", v)
            else:
                raise MsgpackError("integer too large for msgpack: %d" % v)
        else:
            if v >= -32:
                out += struct.pack(">b", v)
            elif v >= -0x80:
                out += b"\xd0" + struct.pack(">b", v)
            elif v >= -0x8000:
                out += b"\xd1" + struct.pack(">h", v)
            elif v >= -0x80000000:
                out += b"\xd2" + struct.pack(">i", v)
            elif v >= -0x8000000000000000:
                out += b"\xd3" + struct.pack(">q", v)
            else:
                raise MsgpackError("integer too small for msgpack: %d" % v)
    elif isinstance(v, float):
        out += b"\xcb" + struct.pack(">d", v)
    elif isinstance(v, str):
        data = v.encode("utf-8")
        n = len(data)
        if n < 32:
            out.append(0xA0 | n)
        elif n <= 0xFF:
            out += b"\xd9" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += data
    elif isinstance(v, (bytes, bytearray, memoryview)):
        data = bytes(v)
        n = len(data)
        if n <= 0xFF:
            out += b"\xc4" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xc5" + struct.pack(">H", n)
        else:
            out += b"\xc6" + struct.pack(">I", n)
        out += data
    elif isinstance(v, (list, tuple)):
        n = len(v)
        if n < 16:
            out.append(0x90 | n)
        elif n <= 0xFFFF:
            out += b"\xdc" + struct.pack(">H", n)
        else:
            out += b"\xdd" + struct.pack(">I", n)
        for item in v:
            _pack(item, out)
    elif isinstance(v, dict):
        n = len(v)
        if n < 16:
            out.append(0x80 | n)
        elif n <= 0xFFFF:
            out += b"\xde" + struct.pack(">H", n)
        else:
            out += b"\xdf" + struct.pack(">I", n)
        for key, item in v.items():
            _pack(key, out)
            _pack(item, out)
    else:
        raise MsgpackError("cannot encode %s" % type(v).__name__)


class Msg(dict):
    """A decoded top-level map. `types` holds the first byte of each field's encoding (to check
    that an integer came as an integer); `raw` is the frame body as received."""

    types = None
    raw = None


NESTING_MAX = 64


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise MsgpackError("value cut short")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt, n):
        return struct.unpack(fmt, self.take(n))[0]

    def value(self, depth=0, top=False):
        if depth > NESTING_MAX:
            raise MsgpackError("nesting deeper than %d" % NESTING_MAX)
        b = self.take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, depth, top)
        if 0x90 <= b <= 0x9F:
            return self.array(b & 0x0F, depth)
        if 0xA0 <= b <= 0xBF:
            return self.str(b & 0x1F)
        if b == 0xC0:
            return None
        if b == 0xC2:
            return False
        if b == 0xC3:
            return True
        if b == 0xC4:
            return bytes(self.take(self.unpack(">B", 1)))
        if b == 0xC5:
            return bytes(self.take(self.unpack(">H", 2)))
        if b == 0xC6:
            return bytes(self.take(self.unpack(">I", 4)))
        if b == 0xCA:
            return self.unpack(">f", 4)
        if b == 0xCB:
            return self.unpack(">d", 8)
        if b == 0xCC:
            return self.unpack(">B", 1)
        if b == 0xCD:
            return self.unpack(">H", 2)
        if b == 0xCE:
            return self.unpack(">I", 4)
        if b == 0xCF:
            return self.unpack(">Q", 8)
        if b == 0xD0:
            return self.unpack(">b", 1)
        if b == 0xD1:
            return self.unpack(">h", 2)
        if b == 0xD2:
            return self.unpack(">i", 4)
        if b == 0xD3:
            return self.unpack(">q", 8)
        if b == 0xD9:
            return self.str(self.unpack(">B", 1))
        if b == 0xDA:
            return self.str(self.unpack(">H", 2))
        if b == 0xDB:
            return self.str(self.unpack(">I", 4))
        if b == 0xDC:
            return self.array(self.unpack(">H", 2), depth)
        if b == 0xDD:
            return self.array(self.unpack(">I", 4), depth)
        if b == 0xDE:
            return self.map(self.unpack(">H", 2), depth, top)
        if b == 0xDF:
            return self.map(self.unpack(">I", 4), depth, top)
        if b == 0xC1:
            raise MsgpackError("byte 0xc1 is never used in msgpack")
        # Extension types: a node refuses them in requests, but a payload (a body, a stored value)
        # is other clients' data, forwarded as it was sent; keep it as an Ext.
        size = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}.get(b)
        if size is None:
            size = self.unpack(">" + {0xC7: "B", 0xC8: "H", 0xC9: "I"}[b], {0xC7: 1, 0xC8: 2, 0xC9: 4}[b])
        ext_type = self.unpack(">b", 1)
        return Ext(ext_type, bytes(self.take(size)))

    def str(self, n):
        try:
            return bytes(self.take(n)).decode("utf-8")
        except UnicodeDecodeError:
            raise MsgpackError("string is not UTF-8")

    def array(self, n, depth):
        return [self.value(depth + 1) for _ in range(n)]

    def header(self, fix, wide16, wide32):
        """The element count of an array (0x90, 0xdc, 0xdd) or a map (0x80, 0xde, 0xdf), or None."""
        b = self.take(1)[0]
        if b & 0xF0 == fix:
            return b & 0x0F
        if b == wide16:
            return self.unpack(">H", 2)
        if b == wide32:
            return self.unpack(">I", 4)
        return None

    def raw_value(self):
        """The next value's bytes, exactly as they are (checked well-formed by decoding it)."""
        start = self.pos
        self.value(1)
        return bytes(self.data[start : self.pos])

    def map(self, n, depth, top):
        result = Msg() if top else {}
        types = {}
        for _ in range(n):
            key = self.value(depth + 1)
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)  # README: an integer key is read as its decimal string
            if isinstance(key, (list, dict)):
                raise MsgpackError("map key is not a string")
            if self.pos < len(self.data):
                types[key] = self.data[self.pos]
            result[key] = self.value(depth + 1)
        if top:
            result.types = types
        return result


def unpackb(data):
    reader = _Reader(bytes(data))
    value = reader.value(top=True)
    if reader.pos != len(reader.data):
        raise MsgpackError("bytes after the value")
    if isinstance(value, Msg):
        value.raw = reader.data
    return value


def raw_entries(body, field="messages"):
    """The bytes of each element of each entry of a frame's positional array (`messages` of
    publish.batch or deliver.batch), exactly as encoded: [[element bytes, ...], ...]."""
    reader = _Reader(bytes(body))
    pairs = reader.header(0x80, 0xDE, 0xDF)
    if pairs is None:
        raise MsgpackError("the frame is not a map")
    for _ in range(pairs):
        key = reader.value(1)
        if key != field:
            reader.value(1)
            continue
        n = reader.header(0x90, 0xDC, 0xDD)
        if n is None:
            raise MsgpackError("%s is not an array" % field)
        entries = []
        for _ in range(n):
            count = reader.header(0x90, 0xDC, 0xDD)
            if count is None:
                raise MsgpackError("an entry of %s is not an array" % field)
            entries.append([reader.raw_value() for _ in range(count)])
        return entries
    raise MsgpackError("the frame has no %s" % field)


# ---------------------------------------------------------------------------------------------
# Errors (README section 5): name -> (code, definite, closes).

ERRORS = {
    "FRAME_TOO_LARGE": (1, True, True),
    "MALFORMED_FRAME": (2, True, True),
    "BAD_ENVELOPE": (3, True, False),
    "UNKNOWN_OP": (4, True, False),
    "HELLO_REQUIRED": (5, True, False),
    "VERSION_MISMATCH": (6, True, True),
    "AUTH_FAILED": (7, True, True),
    "TOO_MANY_CONNECTIONS": (8, True, True),
    "SLOW_CONSUMER": (9, False, True),
    "HELLO_TIMEOUT": (10, True, True),
    "ALREADY_HELLO": (11, True, False),
    "PEER_DEAD": (23, False, True),
    "SHUTTING_DOWN": (24, True, True),
    "BAD_ARGUMENT": (25, True, False),
    "INTERNAL": (26, False, False),
    "REPLY_TOO_LARGE": (28, True, False),
    "NOT_FOUND": (40, True, False),
    "WRONG_TYPE": (41, True, False),
    "QUEUE_FULL": (42, True, False),
    "LIMIT_EXCEEDED": (43, True, False),
    "RESOURCE_LOCKED": (44, True, False),
    "PRECONDITION_FAILED": (45, True, False),
}


class ReplyError(Exception):
    """An `error` reply to a request."""

    def __init__(self, reply):
        super().__init__("%s (%s): %s" % (reply.get("name"), reply.get("code"), reply.get("message")))
        self.reply = reply
        self.name = reply.get("name")
        self.code = reply.get("code")


class Closed(Exception):
    """The node closed the connection."""


class NoReply(Exception):
    """No reply within the time allowed."""


# ---------------------------------------------------------------------------------------------
# A connection: framing (README section 1), envelope (2), hello (3), pings (4).

PROTOCOL_VERSION = 2
DEFAULT_FRAME_BYTES_MAX = 1048576
# A deliver.batch entry: the delivery number and the redelivered flag, then the elements of the
# publish entry exactly as published. Trailing absent fields are left out, absent ones in the
# middle nil; a nil exchange is the default exchange "".
BATCH_FIELDS = ["delivery", "redelivered", "exchange", "key", "body", "replyTo", "correlationId", "headers"]


def split_address(address):
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("not HOST:PORT: %r" % address)
    return host.strip("[]"), int(port)


class Delivery(dict):
    """One message of a deliver.batch, as a map: tag, queue, delivery, redelivered, exchange ("" for
    the default exchange, sent as nil or ""), key, body, and replyTo, correlationId, headers when
    present. `entry` is the positional entry as decoded, `raw` the bytes of each of its elements as
    received, `batch` the deliver.batch frame it came in."""

    entry = None
    raw = None
    batch = None


def expand(batch):
    """The deliveries of a deliver.batch frame, one per entry of `messages`: [delivery, redelivered,
    exchange, key, body, replyTo?, correlationId?, headers?]."""
    entries = batch.get("messages") or []
    raws = raw_entries(batch.raw) if batch.raw is not None else [None] * len(entries)
    out = []
    for entry, raw in zip(entries, raws):
        d = Delivery(tag=batch.get("tag"), queue=batch.get("queue"))
        for field, value in zip(BATCH_FIELDS, entry):
            if value is not None or field in ("delivery", "redelivered", "key", "body"):
                d[field] = value
        if d.get("exchange") is None:
            d["exchange"] = ""
        d.entry, d.raw, d.batch = entry, raw, batch
        out.append(d)
    return out


class Conn:
    def __init__(self, address, hello=True, answer_pings=True, **hello_fields):
        self.sock = socket.create_connection(split_address(address), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.inbox = []  # what is not a reply: deliveries (expanded), messages, errors without re, ...
        self.replies = {}  # replies that arrived while waiting for another
        self.next_id = 1
        self.eof = False
        self.answer_pings = answer_pings
        self.pings_answered = 0
        self.batch_frames = []  # every deliver.batch received, decoded (its bytes in .raw)
        self.oversized = []  # frame sizes above what we announced (a node must never send them)
        self.frame_bytes_max = hello_fields.get("frameBytesMax", DEFAULT_FRAME_BYTES_MAX)
        self.hello = None
        if hello:
            fields = {"node": "py-%d-%s" % (os.getpid(), os.urandom(3).hex()), "role": "client", "version": PROTOCOL_VERSION, "heartbeatMs": 0}
            fields.update(hello_fields)
            self.hello = self.call("hello", **fields)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- sending
    def send_body(self, body, length=None):
        self.sock.sendall(struct.pack(">I", len(body) if length is None else length) + body)

    def send(self, message):
        self.send_body(packb(message))

    def send_request(self, op, _id=None, **fields):
        """Send a request; returns its id (an int, or what `_id` says, e.g. a Raw encoding)."""
        if _id is None:
            _id = self.next_id
            self.next_id += 1
        message = {"op": op, "id": _id}
        message.update(fields)
        self.send(message)
        return _id

    # -- receiving
    def _buffered_frame(self):
        if len(self.buf) < 4:
            return None
        (n,) = struct.unpack(">I", self.buf[:4])
        if len(self.buf) < 4 + n:
            return None
        body = bytes(self.buf[4 : 4 + n])
        del self.buf[: 4 + n]
        if n > self.frame_bytes_max:
            self.oversized.append(n)
        return unpackb(body)

    def read_frame(self, timeout):
        """The next frame (pings answered on the way), None on timeout; Closed at end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._buffered_frame()
            if frame is not None:
                if self.answer_pings and isinstance(frame, dict) and frame.get("op") == "ping" and "id" in frame:
                    try:
                        self.send({"op": "ok", "re": frame["id"]})
                        self.pings_answered += 1
                    except OSError:
                        pass
                    continue
                return frame
            if self.eof:
                raise Closed("connection closed by the node")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
            else:
                self.buf += chunk

    def _stash(self, frame):
        """Keep a frame that is not the reply being waited for."""
        if not isinstance(frame, dict):
            self.inbox.append(frame)
        elif frame.get("op") in ("ok", "error") and "re" in frame:
            self.replies[frame["re"]] = frame
        elif frame.get("op") == "deliver.batch":
            self.batch_frames.append(frame)
            self.inbox.extend(expand(frame))
        else:
            self.inbox.append(frame)

    def wait_reply(self, request_id, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            if request_id in self.replies:
                return self.replies.pop(request_id)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NoReply("no reply to request %r within %.1f s" % (request_id, timeout))
            frame = self.read_frame(remaining)
            if frame is not None:
                self._stash(frame)

    def request(self, op, _id=None, _timeout=5.0, **fields):
        """Send a request and return its reply, ok or error."""
        request_id = self.send_request(op, _id, **fields)
        key = request_id
        if isinstance(request_id, Raw):
            key = unpackb(request_id.data)
        return self.wait_reply(key, _timeout)

    def call(self, op, **fields):
        """Send a request; its ok reply, or ReplyError."""
        reply = self.request(op, **fields)
        if reply.get("op") != "ok":
            raise ReplyError(reply)
        return reply

    def next_message(self, match, timeout=3.0):
        """The first one-way frame for which match(frame) is true, or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for i, frame in enumerate(self.inbox):
                if match(frame):
                    return self.inbox.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            frame = self.read_frame(remaining)
            if frame is not None:
                self._stash(frame)

    def deliveries(self, count, timeout=3.0, tag=None):
        """Up to `count` deliveries (the entries of deliver.batch frames, each a Delivery), in order."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            frame = self.next_message(lambda f: isinstance(f, Delivery) and (tag is None or f.get("tag") == tag), max(0.0, deadline - time.monotonic()))
            if frame is None:
                break
            got.append(frame)
        return got

    def drain(self, seconds):
        """Read (and keep) whatever arrives for a while."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            frame = self.read_frame(remaining)
            if frame is not None:
                self._stash(frame)

    def closes_within(self, timeout):
        """True when the node closes the connection within timeout (frames read are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                frame = self.read_frame(remaining)
                if frame is not None:
                    self._stash(frame)
        except Closed:
            return True

    def errors(self):
        """Error frames without re received so far (taken out of the inbox)."""
        found = [f for f in self.inbox if isinstance(f, dict) and f.get("op") == "error"]
        self.inbox = [f for f in self.inbox if f not in found]
        return found


# ---------------------------------------------------------------------------------------------
# The demo.


def demo(address):
    client = Conn(address, node="python-example")
    hello = client.hello
    if "broker" not in (hello.get("serves") or []):
        print("%s is a %s, not a broker" % (address, hello.get("role")))
        return 1
    print("connected to %s (%s), frameBytesMax %d" % (hello["node"], hello["role"], hello["frameBytesMax"]))
    run = "%d-%s" % (os.getpid(), os.urandom(3).hex())

    queue = client.call("queue.declare", queue="py-demo-jobs-" + run)["queue"]
    print("declared queue %s" % queue)
    for text in ["alpha", "beta", "gamma"]:
        routed = client.call("publish", exchange="", key=queue, body=text)["routed"]
        print("published %s routed=%d" % (text, routed))

    client.call("consume", queue=queue, tag="py", prefetch=10)
    for delivery in client.deliveries(3, timeout=5):
        client.call("ack", delivery=delivery["delivery"])
        print("consumed %s delivery=%d redelivered=%s" % (delivery["body"], delivery["delivery"], delivery.get("redelivered", False)))

    key = "py-demo-list-" + run
    length = client.call("rpush", key=key, values=["x", "y", 3])["length"]
    values = client.call("lrange", key=key, start=0, stop=-1)["values"]
    print("list length=%d values=%r" % (length, values))

    try:
        client.call("sadd", key=key, members=["oops"])
        print("no error: sadd on a list was accepted")
    except ReplyError as err:
        print("typed error %s code=%d" % (err.name, err.code))

    stats = client.call("stats", queue=queue)["queues"][0]
    print("stats depth=%d unacked=%d acked=%d" % (stats["depth"], stats["unacked"], stats["acked"]))
    client.call("queue.delete", queue=queue)
    client.call("del", keys=[key])
    client.close()
    return 0


# ---------------------------------------------------------------------------------------------
# The conformance check: one function per check, each asserting what the spec says.

CORE_OPS = ["hello", "ping", "error"]
BROKER_OPS = [
    "exchange.declare", "exchange.delete", "queue.declare", "queue.delete", "queue.purge", "queue.bind",
    "queue.unbind", "queue.get", "publish", "publish.batch", "consume", "cancel", "ack", "nack",
    "subscribe", "unsubscribe", "channel.publish", "get", "set", "del", "incr", "rpush", "lpush", "lpop",
    "rpop", "blpop", "lrange", "llen", "sadd", "srem", "smembers", "srandmember", "members", "stats",
]
CLIENT_OPS = ["deliver.batch", "message", "cancelled"]
ALL_OPS = CORE_OPS + BROKER_OPS + CLIENT_OPS

# Checks known to fail against the current broker, as "op: what" (reported, not counted as failures;
# a check listed here that passes is a failure, so the list stays honest).
BYTES_ID_FIRST = "byte for byte too when the publish.batch frame's keys come in another order (id before op): msgpack map order means nothing"
# Checks where the broker disagrees with the spec, kept visible rather than deleted (none today).
EXPECTED_FAIL = set()

CHECKS = []


def check(op, what):
    def register(fn):
        CHECKS.append((op, what, fn))
        return fn

    return register


class CheckFailed(Exception):
    pass


def expect(condition, detail):
    if not condition:
        raise CheckFailed(detail)


def same(a, b):
    """Equal, with bool, int and float told apart (True == 1 == 1.0 in Python)."""
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return type(a) is type(b) and a == b


def eq(actual, expected, what):
    if not same(actual, expected):
        raise CheckFailed("%s: expected %r, got %r" % (what, expected, actual))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def ok_reply(reply, request_id=None):
    expect(isinstance(reply, dict) and reply.get("op") == "ok", "expected ok, got %r" % (reply,))
    if request_id is not None:
        eq(reply.get("re"), request_id, "re")
    return reply


def error_reply(reply, name, re="any"):
    """An error frame with this name, the code and definite of the table, a short message; `re`:
    "any" (must be present), None (must be absent), "either", or the exact id."""
    expect(isinstance(reply, dict) and reply.get("op") == "error", "expected error %s, got %r" % (name, reply))
    expect(reply.get("name") == name, "expected %s, got %s (%r): %r" % (name, reply.get("name"), reply.get("code"), reply.get("message")))
    code, definite, _ = ERRORS[name]
    eq(reply.get("code"), code, "code of " + name)
    eq(reply.get("definite"), definite, "definite of " + name)
    message = reply.get("message")
    expect(isinstance(message, str) and len(message) <= 1024, "message must be a string of at most 1024 characters: %r" % (message,))
    if re == "either":
        pass
    elif re is None:
        expect("re" not in reply or reply["re"] is None, "an error with no readable id must carry no re: %r" % (reply,))
    elif re == "any":
        expect(is_int(reply.get("re")), "error must carry re: %r" % (reply,))
    else:
        eq(reply.get("re"), re, "re")
    return reply


def call_error(conn, name, op, **fields):
    """Send a request that must fail with `name`, carrying re."""
    request_id = conn.send_request(op, **fields)
    return error_reply(conn.wait_reply(request_id), name, request_id)


def still_open(conn):
    reply = conn.request("ping")
    expect(reply.get("op") == "ok", "the connection should stay open: ping got %r" % (reply,))


def closing_error(conn, name, re=None, timeout=4.0):
    """The node sends error `name` and closes the connection."""
    closed = conn.closes_within(timeout)
    found = [f for f in list(conn.replies.values()) + conn.inbox if isinstance(f, dict) and f.get("op") == "error"]
    expect(found, "expected error %s before close; got frames %r (closed=%s)" % (name, conn.inbox, closed))
    error_reply(found[0], name, re)
    expect(closed, "the connection should close after %s" % name)


def raw_body(message):
    return packb(message)


class Run:
    def __init__(self, address):
        self.address = address
        self.prefix = "py-%d-%s" % (os.getpid(), os.urandom(3).hex())
        self.conns = []
        self.main = self.conn()
        self.broker_max = self.main.hello["frameBytesMax"]

    def name(self, suffix):
        return "%s-%s" % (self.prefix, suffix)

    def conn(self, **fields):
        c = Conn(self.address, **fields)
        self.conns.append(c)
        return c

    def raw(self):
        c = Conn(self.address, hello=False)
        self.conns.append(c)
        return c

    def hello_fields(self, **overrides):
        fields = {"node": self.name("n%d" % len(self.conns)), "role": "client", "version": PROTOCOL_VERSION, "heartbeatMs": 0}
        fields.update(overrides)
        return fields

    def close_all(self):
        for c in self.conns:
            c.close()


def uint64(n):
    return Raw(b"\xcf" + struct.pack(">Q", n))


# ---- core: hello, ping, error


@check("hello", "reply has node, role, version 2, frameBytesMax, heartbeatMs 0, serves [broker], re")
def _(t):
    c = t.raw()
    rid = c.send_request("hello", **t.hello_fields())
    r = ok_reply(c.wait_reply(rid), rid)
    expect(isinstance(r.get("node"), str) and 1 <= len(r["node"]) <= 255, "node: %r" % r.get("node"))
    expect(isinstance(r.get("role"), str) and 1 <= len(r["role"]) <= 255, "role: %r" % r.get("role"))
    eq(r.get("version"), PROTOCOL_VERSION, "version")
    expect(is_int(r.get("frameBytesMax")) and 4096 <= r["frameBytesMax"] <= 67108864, "frameBytesMax: %r" % r.get("frameBytesMax"))
    eq(r.get("heartbeatMs"), 0, "heartbeatMs (0 asked: heartbeats off)")
    expect(isinstance(r.get("serves"), list) and "broker" in r["serves"], "serves must list broker: %r" % r.get("serves"))


@check("hello", "an id sent as msgpack uint64 (0xcf) is accepted and echoed as re")
def _(t):
    c = t.raw()
    body = raw_body({"op": "hello", "id": uint64(6), **t.hello_fields()})
    expect(b"\xa2id\xcf" in body, "the request really encodes id as uint64")
    c.send_body(body)
    ok_reply(c.wait_reply(6), 6)


@check("hello", "a node of 300 characters is BAD_ARGUMENT with re; the connection stays open and a corrected hello succeeds")
def _(t):
    c = t.raw()
    rid = c.send_request("hello", **t.hello_fields(node="n" * 300))
    error_reply(c.wait_reply(rid), "BAD_ARGUMENT", rid)
    rid = c.send_request("hello", **t.hello_fields())
    ok_reply(c.wait_reply(rid), rid)
    still_open(c)


@check("hello", "a hello without version is BAD_ARGUMENT with re; the connection stays open")
def _(t):
    c = t.raw()
    fields = t.hello_fields()
    del fields["version"]
    rid = c.send_request("hello", **fields)
    error_reply(c.wait_reply(rid), "BAD_ARGUMENT", rid)
    rid = c.send_request("hello", **t.hello_fields())
    ok_reply(c.wait_reply(rid), rid)


@check("hello", "frameBytesMax 100 (below 4,096) is BAD_ARGUMENT with re")
def _(t):
    c = t.raw()
    rid = c.send_request("hello", **t.hello_fields(frameBytesMax=100))
    error_reply(c.wait_reply(rid), "BAD_ARGUMENT", rid)


@check("hello", "version 1 (the previous protocol) is VERSION_MISMATCH with re, then the connection closes")
def _(t):
    c = t.raw()
    rid = c.send_request("hello", **t.hello_fields(version=1))
    closing_error(c, "VERSION_MISMATCH", rid)


@check("hello", "version 3 is VERSION_MISMATCH with re, then the connection closes")
def _(t):
    c = t.raw()
    rid = c.send_request("hello", **t.hello_fields(version=3))
    closing_error(c, "VERSION_MISMATCH", rid)


@check("hello", "a second hello is ALREADY_HELLO with re; the connection stays open")
def _(t):
    c = t.conn()
    rid = c.send_request("hello", **t.hello_fields())
    error_reply(c.wait_reply(rid), "ALREADY_HELLO", rid)
    still_open(c)


@check("hello", "a request before hello is HELLO_REQUIRED with re")
def _(t):
    c = t.raw()
    rid = c.send_request("ping")
    error_reply(c.wait_reply(rid), "HELLO_REQUIRED", rid)
    rid = c.send_request("hello", **t.hello_fields())
    ok_reply(c.wait_reply(rid), rid)


@check("ping", "answered with {op: ok, re}")
def _(t):
    rid = t.main.send_request("ping")
    r = ok_reply(t.main.wait_reply(rid), rid)
    eq(sorted(k for k in r if k not in ("op", "re")), [], "no reply fields")


@check("ping", "an id of 2^53-1 sent as uint64 (0xcf) comes back as re")
def _(t):
    big = 2 ** 53 - 1
    t.main.send_body(raw_body({"op": "ping", "id": uint64(big)}))
    ok_reply(t.main.wait_reply(big), big)


@check("ping", "the node pings a silent client (heartbeatMs 50) and answered pings keep it open")
def _(t):
    c = t.conn(heartbeatMs=50)
    eq(c.hello.get("heartbeatMs"), 50, "agreed heartbeatMs")
    c.drain(0.5)
    expect(c.pings_answered >= 1, "no ping from the node in 0.5 s with a 50 ms heartbeat")
    still_open(c)


@check("ping", "a client that answers nothing is closed with PEER_DEAD (no re)")
def _(t):
    c = t.conn(heartbeatMs=50, answer_pings=False)
    time.sleep(0.5)
    closing_error(c, "PEER_DEAD", None)


@check("error", "a failed one-way publish gets an error frame without re: code, name, message, definite")
def _(t):
    c = t.conn()
    c.send({"op": "publish", "exchange": "", "key": t.name("no-such-queue"), "body": "x"})
    frame = c.next_message(lambda f: isinstance(f, dict) and f.get("op") == "error", 3)
    expect(frame is not None, "no error frame came back")
    error_reply(frame, "NOT_FOUND", None)
    still_open(c)


@check("error", "a one-way-only message (error) sent with an id is BAD_ENVELOPE with re")
def _(t):
    c = t.conn()
    rid = c.send_request("error", code=26, name="INTERNAL", message="test", definite=False)
    error_reply(c.wait_reply(rid, 2.0), "BAD_ENVELOPE", rid)
    still_open(c)


# ---- framing and envelope (README sections 1 and 2)


@check("framing", "the byte 0xc1 as a body is MALFORMED_FRAME (no re), then the connection closes")
def _(t):
    c = t.conn()
    c.send_body(b"\xc1")
    closing_error(c, "MALFORMED_FRAME", None)


@check("framing", "an empty body (N = 0) is MALFORMED_FRAME, then the connection closes")
def _(t):
    c = t.conn()
    c.send_body(b"")
    closing_error(c, "MALFORMED_FRAME", None)


@check("framing", "bytes after the value are MALFORMED_FRAME, then the connection closes")
def _(t):
    c = t.conn()
    c.send_body(raw_body({"op": "ping", "id": 1}) + b"\x00")
    closing_error(c, "MALFORMED_FRAME", None)


@check("framing", "a value cut short is MALFORMED_FRAME, then the connection closes")
def _(t):
    c = t.conn()
    c.send_body(raw_body({"op": "ping", "id": 1})[:-1])
    closing_error(c, "MALFORMED_FRAME", None)


@check("framing", "nesting deeper than 64 levels is MALFORMED_FRAME, then the connection closes")
def _(t):
    c = t.conn()
    value = "x"
    for _ in range(70):
        value = [value]
    c.send({"op": "set", "id": 1, "key": t.name("deep"), "value": value})
    closing_error(c, "MALFORMED_FRAME", "either")


@check("framing", "a length prefix above the node's frameBytesMax is FRAME_TOO_LARGE, then the connection closes")
def _(t):
    c = t.conn()
    c.send_body(b"", length=t.broker_max + 1)
    closing_error(c, "FRAME_TOO_LARGE", None)


@check("framing", "an extension type inside a request is BAD_ARGUMENT with re; the connection stays open")
def _(t):
    c = t.conn()
    key = t.name("ext")
    rid = c.send_request("incr", key=key, by=Raw(b"\xd4\x01\x00"))
    error_reply(c.wait_reply(rid), "BAD_ARGUMENT", rid)
    still_open(c)
    eq(c.call("get", key=key).get("value"), None, "nothing stored")


@check("set", "a payload (a stored value, a body) is kept as its bytes: an extension type in it is stored and returned exactly")
def _(t):
    c = t.conn()
    key = t.name("ext-payload")
    c.call("set", key=key, value=Raw(b"\x92\xd4\x01\x07\xa1x"))  # [fixext1(type 1, 0x07), "x"]
    eq(c.call("get", key=key).get("value"), [Ext(1, b"\x07"), "x"], "the value, extension and all")


@check("framing", "integers in every width are integers: uint64-, int64- and uint16-encoded small values")
def _(t):
    key = t.name("widths")
    eq(t.main.call("incr", key=key, by=Raw(b"\xcf" + struct.pack(">Q", 6)))["value"], 6, "incr by uint64 6")
    eq(t.main.call("incr", key=key, by=Raw(b"\xd3" + struct.pack(">q", -2)))["value"], 4, "incr by int64 -2")
    t.main.call("rpush", key=key + "-l", values=["a", "b", "c"])
    r = t.main.call("lrange", key=key + "-l", start=Raw(b"\xd3" + struct.pack(">q", 1)), stop=Raw(b"\xcd" + struct.pack(">H", 2)))
    eq(r["values"], ["b", "c"], "lrange with wide integers")


@check("framing", "the node writes every integer in its smallest format (1 fixint, 300 uint16, -2^40 int64)")
def _(t):
    key = t.name("small-ints")
    r = t.main.call("incr", key=key, by=1)
    eq(r.types.get("value"), 0x01, "type byte of 1")
    r = t.main.call("incr", key=key, by=299)
    eq(r.types.get("value"), 0xCD, "type byte of 300")
    r = t.main.call("incr", key=key + "-neg", by=-(2 ** 40))
    eq(r["value"], -(2 ** 40), "value")
    eq(r.types.get("value"), 0xD3, "type byte of -2^40")


@check("envelope", "a body that is not a map is BAD_ENVELOPE without re; the connection stays open")
def _(t):
    c = t.conn()
    c.send(["ping", 1])
    frame = c.next_message(lambda f: isinstance(f, dict) and f.get("op") == "error", 3)
    expect(frame is not None, "no error came back")
    error_reply(frame, "BAD_ENVELOPE", None)
    still_open(c)


@check("envelope", "a request with a readable id and no op is BAD_ENVELOPE with re")
def _(t):
    c = t.conn()
    c.send({"id": 77, "key": "x"})
    error_reply(c.wait_reply(77), "BAD_ENVELOPE", 77)
    still_open(c)


@check("envelope", "an op that is not a string, with a readable id, is BAD_ENVELOPE with re")
def _(t):
    c = t.conn()
    c.send({"op": 5, "id": 78})
    error_reply(c.wait_reply(78), "BAD_ENVELOPE", 78)
    still_open(c)


@check("envelope", "a request-only op (get) sent without id is BAD_ENVELOPE without re")
def _(t):
    c = t.conn()
    c.send({"op": "get", "key": t.name("k")})
    frame = c.next_message(lambda f: isinstance(f, dict) and f.get("op") == "error", 3)
    expect(frame is not None, "no error came back")
    error_reply(frame, "BAD_ENVELOPE", None)
    still_open(c)


@check("envelope", "an unknown op is UNKNOWN_OP with re")
def _(t):
    call_error(t.main, "UNKNOWN_OP", "no.such.op")


@check("envelope", "fields a receiver does not know are ignored")
def _(t):
    r = t.main.call("llen", key=t.name("nothing"), futureField={"a": [1, 2]})
    eq(r.get("length"), 0, "length")


# ---- exchanges


@check("exchange.declare", "a direct exchange is declared; the same again is a no-op")
def _(t):
    ex = t.name("ex-direct")
    eq(sorted(k for k in t.main.call("exchange.declare", exchange=ex) if k not in ("op", "re")), [], "reply fields")
    t.main.call("exchange.declare", exchange=ex, type="direct")
    t.main.call("exchange.declare", exchange=ex)


@check("exchange.declare", "re-declaring an exchange with another type is PRECONDITION_FAILED")
def _(t):
    ex = t.name("ex-direct")
    call_error(t.main, "PRECONDITION_FAILED", "exchange.declare", exchange=ex, type="fanout")


@check("exchange.declare", "a type other than direct or fanout is BAD_ARGUMENT")
def _(t):
    call_error(t.main, "BAD_ARGUMENT", "exchange.declare", exchange=t.name("ex-topic"), type="topic")


@check("exchange.declare", "fanout: a message goes to every bound queue, the key ignored")
def _(t):
    ex, q1, q2 = t.name("ex-fan"), t.name("fan-1"), t.name("fan-2")
    t.main.call("exchange.declare", exchange=ex, type="fanout")
    for q in (q1, q2):
        t.main.call("queue.declare", queue=q)
        t.main.call("queue.bind", queue=q, exchange=ex)
    eq(t.main.call("publish", exchange=ex, key="anything", body="f")["routed"], 2, "routed")


@check("exchange.delete", "deleting an exchange works; deleting it again is NOT_FOUND")
def _(t):
    ex = t.name("ex-del")
    t.main.call("exchange.declare", exchange=ex)
    ok_reply(t.main.request("exchange.delete", exchange=ex))
    call_error(t.main, "NOT_FOUND", "exchange.delete", exchange=ex)
    call_error(t.main, "NOT_FOUND", "publish", exchange=ex, key="k", body="x")


# ---- queues


@check("queue.declare", "a named queue: reply queue, depth 0, consumers 0; re-declare shows depth")
def _(t):
    q = t.name("q-decl")
    r = t.main.call("queue.declare", queue=q)
    eq((r.get("queue"), r.get("depth"), r.get("consumers")), (q, 0, 0), "queue, depth, consumers")
    t.main.call("publish", exchange="", key=q, body="one")
    r = t.main.call("queue.declare", queue=q)
    eq(r.get("depth"), 1, "depth after a publish")


@check("queue.declare", "no name gets a server-named (q.gen-...) exclusive queue")
def _(t):
    r = t.main.call("queue.declare")
    expect(r["queue"].startswith("q.gen-"), "name %r" % r["queue"])
    row = t.main.call("stats", queue=r["queue"])["queues"][0]
    eq(row["exclusive"], True, "exclusive")
    r2 = t.main.call("queue.declare", queue="")
    expect(r2["queue"].startswith("q.gen-") and r2["queue"] != r["queue"], "another server name: %r" % r2["queue"])


@check("queue.declare", "re-declaring with another maxLength is PRECONDITION_FAILED; omitted properties are not compared")
def _(t):
    q = t.name("q-props")
    t.main.call("queue.declare", queue=q, maxLength=10)
    call_error(t.main, "PRECONDITION_FAILED", "queue.declare", queue=q, maxLength=11)
    call_error(t.main, "PRECONDITION_FAILED", "queue.declare", queue=q, overflow="drop-oldest")
    t.main.call("queue.declare", queue=q)
    t.main.call("queue.declare", queue=q, maxLength=10)


@check("queue.declare", "maxLength 0 and overflow 'nope' are BAD_ARGUMENT")
def _(t):
    call_error(t.main, "BAD_ARGUMENT", "queue.declare", queue=t.name("q-bad"), maxLength=0)
    call_error(t.main, "BAD_ARGUMENT", "queue.declare", queue=t.name("q-bad"), overflow="nope")


@check("queue.declare", "an exclusive queue: other connections get RESOURCE_LOCKED (declare, consume, bind, purge, delete) but may publish; gone when its owner closes")
def _(t):
    owner = t.conn()
    q = t.name("q-excl")
    owner.call("queue.declare", queue=q, exclusive=True)
    other = t.conn()
    call_error(other, "RESOURCE_LOCKED", "queue.declare", queue=q, exclusive=True)
    call_error(other, "RESOURCE_LOCKED", "consume", queue=q)
    call_error(other, "RESOURCE_LOCKED", "queue.bind", queue=q, exchange=t.name("ex-direct"), key="x")
    call_error(other, "RESOURCE_LOCKED", "queue.purge", queue=q)
    call_error(other, "RESOURCE_LOCKED", "queue.delete", queue=q)
    eq(other.call("publish", exchange="", key=q, body="reply")["routed"], 1, "publish to another's exclusive queue")
    owner.close()
    deadline = time.monotonic() + 3
    while True:
        r = t.main.request("stats", queue=q)
        if r.get("op") == "error" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    error_reply(r, "NOT_FOUND")


@check("queue.delete", "reply purged counts the messages; deleting again is NOT_FOUND")
def _(t):
    q = t.name("q-del")
    t.main.call("queue.declare", queue=q)
    t.main.call("publish.batch", messages=[[None, q, "a"], [None, q, "b"]])
    eq(t.main.call("queue.delete", queue=q).get("purged"), 2, "purged")
    call_error(t.main, "NOT_FOUND", "queue.delete", queue=q)
    call_error(t.main, "NOT_FOUND", "publish", exchange="", key=q, body="x")


@check("queue.purge", "drops every ready message (purged n, depth 0); a missing queue is NOT_FOUND")
def _(t):
    q = t.name("q-purge")
    t.main.call("queue.declare", queue=q)
    for i in range(3):
        t.main.call("publish", exchange="", key=q, body=i)
    eq(t.main.call("queue.purge", queue=q).get("purged"), 3, "purged")
    eq(t.main.call("queue.declare", queue=q).get("depth"), 0, "depth after purge")
    call_error(t.main, "NOT_FOUND", "queue.purge", queue=t.name("q-missing"))


@check("queue.bind", "a direct binding routes its key only; a missing queue or exchange is NOT_FOUND")
def _(t):
    ex, q = t.name("ex-bind"), t.name("q-bind")
    t.main.call("exchange.declare", exchange=ex)
    t.main.call("queue.declare", queue=q)
    eq(sorted(k for k in t.main.call("queue.bind", queue=q, exchange=ex, key="k1") if k not in ("op", "re")), [], "reply fields")
    eq(t.main.call("publish", exchange=ex, key="k1", body="m")["routed"], 1, "routed with the bound key")
    eq(t.main.call("publish", exchange=ex, key="k2", body="m")["routed"], 0, "routed with another key (dropped)")
    call_error(t.main, "NOT_FOUND", "queue.bind", queue=t.name("q-missing"), exchange=ex, key="k1")
    call_error(t.main, "NOT_FOUND", "queue.bind", queue=q, exchange=t.name("ex-missing"), key="k1")


@check("queue.unbind", "after unbind the key routes to 0 queues; an absent binding is a no-op; a missing queue is NOT_FOUND")
def _(t):
    ex, q = t.name("ex-bind"), t.name("q-bind")
    t.main.call("queue.unbind", queue=q, exchange=ex, key="k1")
    eq(t.main.call("publish", exchange=ex, key="k1", body="m")["routed"], 0, "routed after unbind")
    t.main.call("queue.unbind", queue=q, exchange=ex, key="never-bound")
    call_error(t.main, "NOT_FOUND", "queue.unbind", queue=t.name("q-missing"), exchange=ex, key="k1")


@check("queue.get", "takes one message {delivery, exchange '', key, body, redelivered false, properties}; acked like a delivery; nil when empty")
def _(t):
    c = t.conn()
    q = t.name("q-get")
    c.call("queue.declare", queue=q)
    c.call("publish", exchange="", key=q, body={"n": 1}, replyTo="rq", correlationId="c-1", headers={"h": "v"})
    m = c.call("queue.get", queue=q)["message"]
    expect(isinstance(m, dict), "message: %r" % (m,))
    expect(is_int(m.get("delivery")) and m["delivery"] >= 1, "delivery: %r" % m.get("delivery"))
    eq((m.get("exchange"), m.get("key"), m.get("body"), m.get("redelivered")), ("", q, {"n": 1}, False), "exchange, key, body, redelivered")
    eq((m.get("replyTo"), m.get("correlationId"), m.get("headers")), ("rq", "c-1", {"h": "v"}), "replyTo, correlationId, headers")
    eq(c.call("stats", queue=q)["queues"][0]["unacked"], 1, "unacked before ack")
    c.call("ack", delivery=m["delivery"])
    row = c.call("stats", queue=q)["queues"][0]
    eq((row["depth"], row["unacked"]), (0, 0), "depth, unacked after ack")
    r = c.call("queue.get", queue=q)
    expect("message" in r and r["message"] is None, "empty queue: message nil, got %r" % (r,))
    call_error(c, "NOT_FOUND", "queue.get", queue=t.name("q-missing"))


@check("queue.get", "autoAck true leaves nothing unacked")
def _(t):
    q = t.name("q-get-auto")
    t.main.call("queue.declare", queue=q)
    t.main.call("publish", exchange="", key=q, body="a")
    eq(t.main.call("queue.get", queue=q, autoAck=True)["message"]["body"], "a", "body")
    row = t.main.call("stats", queue=q)["queues"][0]
    eq((row["depth"], row["unacked"]), (0, 0), "depth, unacked")


@check("queue.get", "a message larger than the requester's frames is REPLY_TOO_LARGE and stays in the queue")
def _(t):
    q = t.name("q-get-big")
    t.main.call("queue.declare", queue=q)
    t.main.call("publish", exchange="", key=q, body="x" * 6000)
    small = t.conn(frameBytesMax=4096)
    call_error(small, "REPLY_TOO_LARGE", "queue.get", queue=q)
    eq(t.main.call("stats", queue=q)["queues"][0]["depth"], 1, "depth after the refused get")
    expect(not small.oversized, "the node sent frames larger than 4096: %r" % small.oversized)


# ---- publishing


@check("publish", "a confirmed publish replies {routed: 1} with re")
def _(t):
    q = t.name("q-pub")
    t.main.call("queue.declare", queue=q)
    rid = t.main.send_request("publish", exchange="", key=q, body=b"\x00\x01bin")
    r = ok_reply(t.main.wait_reply(rid), rid)
    eq(r.get("routed"), 1, "routed")
    eq(t.main.call("queue.get", queue=q, autoAck=True)["message"]["body"], b"\x00\x01bin", "binary body round trip")


@check("publish", "to a missing queue (default exchange) or a missing exchange is NOT_FOUND with re")
def _(t):
    call_error(t.main, "NOT_FOUND", "publish", exchange="", key=t.name("q-missing"), body="x")
    call_error(t.main, "NOT_FOUND", "publish", exchange=t.name("ex-missing"), key="k", body="x")


@check("publish", "a nil or missing body is BAD_ARGUMENT with re")
def _(t):
    call_error(t.main, "BAD_ARGUMENT", "publish", exchange="", key=t.name("q-pub"), body=None)
    call_error(t.main, "BAD_ARGUMENT", "publish", exchange="", key=t.name("q-pub"))


@check("publish", "a one-way publish gets no reply and is queued")
def _(t):
    c = t.conn()
    q = t.name("q-oneway")
    c.call("queue.declare", queue=q)
    c.send({"op": "publish", "exchange": "", "key": q, "body": "ow"})
    eq(c.call("queue.declare", queue=q)["depth"], 1, "depth after a one-way publish")
    c.drain(0.2)
    expect(not c.inbox, "a one-way publish must get nothing back: %r" % c.inbox)


@check("publish", "maxLength with overflow reject: QUEUE_FULL (definite) at the limit")
def _(t):
    q = t.name("q-full")
    t.main.call("queue.declare", queue=q, maxLength=2)
    t.main.call("publish", exchange="", key=q, body=1)
    t.main.call("publish", exchange="", key=q, body=2)
    call_error(t.main, "QUEUE_FULL", "publish", exchange="", key=q, body=3)
    eq(t.main.call("queue.declare", queue=q)["depth"], 2, "depth")


@check("publish", "maxLength with overflow drop-oldest: the head is dropped and counted in stats")
def _(t):
    q = t.name("q-drop")
    t.main.call("queue.declare", queue=q, maxLength=2, overflow="drop-oldest")
    for i in (1, 2, 3):
        eq(t.main.call("publish", exchange="", key=q, body=i)["routed"], 1, "routed")
    row = t.main.call("stats", queue=q)["queues"][0]
    eq((row["depth"], row["dropped"], row["overflow"], row["maxLength"]), (2, 1, "drop-oldest", 2), "depth, dropped, overflow, maxLength")
    eq(t.main.call("queue.get", queue=q, autoAck=True)["message"]["body"], 2, "head after the drop")


@check("publish", "a message larger than frameBytesMax less 4 KiB is LIMIT_EXCEEDED")
def _(t):
    if t.broker_max > 8 * 1048576:
        return
    q = t.name("q-pub")
    body = b"x" * (t.broker_max - 2048)
    call_error(t.main, "LIMIT_EXCEEDED", "publish", exchange="", key=q, body=body)


@check("publish.batch", "a batch is routed entry by entry: {routed, failed, firstError {name, message}}")
def _(t):
    q = t.name("q-batch")
    t.main.call("queue.declare", queue=q)
    r = t.main.call("publish.batch", messages=[[None, q, "a"], ["", t.name("q-missing"), "b"], [None, q, "c", "rt", "cid", {"h": 1}]])
    eq((r.get("routed"), r.get("failed")), (2, 1, ), "routed, failed")
    fe = r.get("firstError")
    expect(isinstance(fe, dict) and fe.get("name") == "NOT_FOUND" and isinstance(fe.get("message"), str), "firstError: %r" % (fe,))
    eq(t.main.call("queue.declare", queue=q)["depth"], 2, "depth")
    t.main.call("queue.get", queue=q, autoAck=True)
    m = t.main.call("queue.get", queue=q, autoAck=True)["message"]
    eq((m["body"], m.get("replyTo"), m.get("correlationId"), m.get("headers")), ("c", "rt", "cid", {"h": 1}), "positional properties")


@check("publish.batch", "a batch with a malformed entry is refused whole: BAD_ARGUMENT with re, nothing routed")
def _(t):
    q = t.name("q-batch-bad")
    t.main.call("queue.declare", queue=q)
    call_error(t.main, "BAD_ARGUMENT", "publish.batch", messages=[[None, q, "ok"], [None, q]])
    call_error(t.main, "BAD_ARGUMENT", "publish.batch", messages=[[None, q, "ok"], [None, q, None]])
    call_error(t.main, "BAD_ARGUMENT", "publish.batch", messages=[])
    eq(t.main.call("queue.declare", queue=q)["depth"], 0, "depth (nothing routed)")


@check("publish.batch", "one-way, a batch with failures gets exactly one error without re")
def _(t):
    c = t.conn()
    q = t.name("q-batch-ow")
    c.call("queue.declare", queue=q)
    c.send({"op": "publish.batch", "messages": [[None, t.name("q-missing"), 1], [None, q, 2], [None, t.name("q-missing2"), 3]]})
    eq(c.call("queue.declare", queue=q)["depth"], 1, "valid entry routed")
    c.drain(0.3)
    errors = c.errors()
    eq(len(errors), 1, "error frames")
    error_reply(errors[0], "NOT_FOUND", None)


# ---- consuming


@check("consume", "reply {tag} with the tag asked; a missing queue is NOT_FOUND; prefetch 70000 is BAD_ARGUMENT")
def _(t):
    c = t.conn()
    q = t.name("q-cons")
    c.call("queue.declare", queue=q)
    eq(c.call("consume", queue=q, tag="my-tag")["tag"], "my-tag", "tag")
    r = c.call("consume", queue=q)
    expect(isinstance(r.get("tag"), str) and r["tag"] and r["tag"] != "my-tag", "server-chosen tag: %r" % r.get("tag"))
    call_error(c, "NOT_FOUND", "consume", queue=t.name("q-missing"))
    call_error(c, "BAD_ARGUMENT", "consume", queue=q, prefetch=70000)


@check("consume", "a connection that announced frameBytesMax below the broker's gets PRECONDITION_FAILED")
def _(t):
    q = t.name("q-cons")
    small = t.conn(frameBytesMax=4096)
    if t.broker_max <= 4096:
        return
    call_error(small, "PRECONDITION_FAILED", "consume", queue=q)


def one_message_batch(d, tag, queue):
    """The delivery d came alone in a deliver.batch frame for this tag and queue."""
    b = d.batch
    expect(b is not None and b.get("op") == "deliver.batch", "not from a deliver.batch: %r" % (b,))
    eq((b.get("tag"), b.get("queue"), len(b.get("messages") or [])), (tag, queue, 1), "deliver.batch tag, queue, number of entries")


def no_deliver_frames(conn):
    """Protocol 2 retired the single `deliver` frame: a broker always sends deliver.batch."""
    found = [f for f in conn.inbox if isinstance(f, dict) and f.get("op") == "deliver"]
    expect(not found, "a deliver frame came (retired in protocol 2): %r" % found)


@check("deliver.batch", "one message comes as a deliver.batch of one entry [delivery, redelivered false, exchange, key, body, replyTo, correlationId, headers] with tag and queue; delivery numbers per connection from 1")
def _(t):
    c = t.conn()
    q = t.name("q-deliver")
    c.call("queue.declare", queue=q)
    c.call("consume", queue=q, tag="d1")
    body = {"n": [1, 2.5, None]}
    t.main.call("publish", exchange="", key=q, body=body, replyTo="r", correlationId="c", headers={"h": "v"})
    got = c.deliveries(1)
    expect(got, "no delivery")
    d = got[0]
    one_message_batch(d, "d1", q)
    eq(d.entry, [1, False, "", q, body, "r", "c", {"h": "v"}], "the entry")
    eq((d["tag"], d["queue"], d["delivery"], d["redelivered"], d["exchange"], d["key"], d["body"]), ("d1", q, 1, False, "", q, body), "tag, queue, delivery, redelivered, exchange, key, body")
    eq((d.get("replyTo"), d.get("correlationId"), d.get("headers")), ("r", "c", {"h": "v"}), "properties")
    # Numbers are per connection: another connection's first delivery is 1 as well.
    other = t.conn()
    q2 = t.name("q-deliver-2")
    other.call("queue.declare", queue=q2)
    other.call("consume", queue=q2, tag="d1")
    t.main.call("publish", key=q2, body="elsewhere")
    got2 = other.deliveries(1)
    expect(got2, "no delivery on the other connection")
    one_message_batch(got2[0], "d1", q2)
    eq(got2[0]["delivery"], 1, "the first delivery number of another connection")
    expect(got2[0].entry[2] in (None, ""), "a publish without exchange: the default exchange (nil or \"\"), got %r" % (got2[0].entry[2],))
    eq(got2[0].entry[:2] + got2[0].entry[3:], [1, False, q2, "elsewhere"], "a plain message: trailing absent fields left out")
    t.main.call("publish", exchange="", key=q, body="second")
    got = c.deliveries(1)
    expect(got, "no second delivery")
    one_message_batch(got[0], "d1", q)
    eq(got[0].entry, [2, False, "", q, "second"], "the second entry on the first connection")
    no_deliver_frames(c)
    no_deliver_frames(other)
    ok_reply(c.request("ack", deliveries=[1, 2]))
    ok_reply(other.request("ack", delivery=1))


@check("deliver.batch", "a one-message entry carries the exchange as published (nil, \"\", or the name through a named exchange) and its properties, middle absent ones nil")
def _(t):
    c = t.conn()
    ex, q = t.name("ex-deliver"), t.name("q-deliver-ex")
    c.call("exchange.declare", exchange=ex)
    c.call("queue.declare", queue=q)
    c.call("queue.bind", queue=q, exchange=ex, key="rk")
    c.call("consume", queue=q, tag="d2", prefetch=1)
    sent = [[None, q, "a"], ["", q, "b", None, "cid"], [ex, "rk", "c", "rt"]]
    eq(t.main.call("publish.batch", messages=sent)["routed"], 3, "routed")
    expected = [[i + 1, False] + e for i, e in enumerate(sent)]
    expected.append([4, False, ex, "rk", "d", None, None, {"k": 1}])
    meanings = ["", "", ex, ex]
    for i, want in enumerate(expected):
        if i == 3:
            t.main.call("publish", exchange=ex, key="rk", body="d", headers={"k": 1})
        got = c.deliveries(1)
        expect(got, "no delivery %d" % (i + 1))
        d = got[0]
        one_message_batch(d, "d2", q)
        eq(d.entry, want, "entry %d" % (i + 1))
        eq((d["exchange"], d["key"]), (meanings[i], want[3]), "entry %d: exchange (meaning), key" % (i + 1))
        ok_reply(c.request("ack", delivery=d["delivery"]))
    no_deliver_frames(c)


@check("deliver.batch", "redelivered is false in a one-message entry, true after a nack, with a new delivery number and the same message")
def _(t):
    c = t.conn()
    q = t.name("q-redeliver")
    c.call("queue.declare", queue=q)
    message = [None, q, "again", "rt", None, {"h": [1]}]
    c.call("publish.batch", messages=[message])
    c.call("consume", queue=q, tag="r1", prefetch=1)
    first = c.deliveries(1)
    expect(first, "no delivery")
    one_message_batch(first[0], "r1", q)
    eq(first[0].entry, [1, False] + message, "the first entry")
    ok_reply(c.request("nack", delivery=1))
    again = c.deliveries(1)
    expect(again, "no redelivery")
    one_message_batch(again[0], "r1", q)
    eq(again[0].entry, [2, True] + message, "the redelivered entry")
    eq(again[0]["redelivered"], True, "redelivered")
    eq(again[0].raw[2:], first[0].raw[2:], "the message's bytes")
    ok_reply(c.request("ack", delivery=2))
    row = c.call("stats", queue=q)["queues"][0]
    eq((row["depth"], row["unacked"], row["redelivered"]), (0, 0, 1), "depth, unacked, redelivered")
    no_deliver_frames(c)


def str8(text):
    """A string as msgpack str8 (0xd9), valid but not the smallest format for a short one."""
    data = text.encode("utf-8")
    return Raw(b"\xd9" + bytes([len(data)]) + data)


def check_byte_for_byte(t, tag, id_first):
    """publish.batch entries in unusual-but-valid encodings come back, after the delivery number
    and flag, as exactly the bytes sent."""
    c = t.conn()
    ex, q = t.name("ex-bytes-" + tag), t.name("q-bytes-" + tag)
    c.call("exchange.declare", exchange=ex)
    c.call("queue.declare", queue=q)
    c.call("queue.bind", queue=q, exchange=ex, key="k")
    entries = [
        [None, str8(q), str8("hi")],  # nil exchange, str8 key and body
        ["", q, Raw(b"\xcd\x00\x05"), None, str8("c")],  # "" exchange, uint16 5, a middle nil, str8 correlationId
        [str8(ex), "k", Raw(b"\xd4\x01\x07"), "rt", None, Raw(b"\x81\xa1h\xcd\x00\x01")],  # fixext 1 body, {h: uint16 1}
        [None, q, Raw(b"\x93\xcf" + struct.pack(">Q", 2 ** 64 - 1) + b"\xca" + struct.pack(">f", 1.5) + b"\xcd\x00\x07")],  # [uint64 max, float32, uint16 7]
        [None, q, Raw(b"\xcf" + struct.pack(">Q", 9)), Raw(b"\xd9\x02rt"), Raw(b"\xd9\x03cid"), Raw(b"\xde\x00\x01\xd9\x01a\xd0\x01")],  # uint64 9; map16 {str8 a: int8 1}
    ]
    rid = c.next_id
    c.next_id += 1
    fields = [("id", rid), ("op", "publish.batch")] if id_first else [("op", "publish.batch"), ("id", rid)]
    body = packb(dict(fields + [("messages", entries)]))
    sent = raw_entries(body)
    expect(sent[0][1][:1] == b"\xd9" and sent[1][2] == b"\xcd\x00\x05", "the batch really uses str8 and uint16")
    c.send_body(body)
    r = ok_reply(c.wait_reply(rid), rid)
    eq(r.get("routed"), len(entries), "routed")
    c.call("consume", queue=q, tag="bytes", autoAck=True)
    got = c.deliveries(len(entries))
    eq(len(got), len(entries), "deliveries")
    differences = []
    for i, d in enumerate(got):
        expect(d.raw is not None and len(d.raw) == len(sent[i]) + 2, "entry %d: %r" % (i, d.entry))
        eq(d.entry[:2], [d["delivery"], False], "entry %d: delivery, redelivered" % i)
        for field, mine, theirs in zip(BATCH_FIELDS[2:], sent[i], d.raw[2:]):
            if mine != theirs:
                differences.append("entry %d %s: sent %s, delivered %s" % (i, field, mine.hex()[:24], theirs.hex()[:24]))
    expect(not differences, "; ".join(differences))
    return c, ex, q


@check("deliver.batch", "a delivered entry's elements after redelivered are byte for byte the publish.batch entry's (nil exchange, str8, uint16/uint64 small ints, float32, ext, map16, middle nils); a single publish's body and headers too")
def _(t):
    c, ex, q = check_byte_for_byte(t, "a", id_first=False)
    headers = Raw(b"\x81\xd9\x01h\xcd\x00\x01")
    c.call("publish", exchange=ex, key="k", body=str8("x"), headers=headers)
    got = c.deliveries(1)
    expect(got, "no delivery of the single publish")
    one_message_batch(got[0], "bytes", q)
    eq(got[0].entry[2:5], [ex, "k", "x"], "exchange, key, body")
    eq((got[0].raw[4], got[0].raw[7]), (b"\xd9\x01x", headers.data), "the body's and headers' bytes")


@check("deliver.batch", BYTES_ID_FIRST)
def _(t):
    check_byte_for_byte(t, "b", id_first=True)


@check("deliver.batch", "queued messages come as deliver.batch; each entry is [delivery, false, ...the publish entry], in order")
def _(t):
    c = t.conn()
    ex, q = t.name("ex-batch"), t.name("q-dbatch")
    c.call("exchange.declare", exchange=ex)
    c.call("queue.declare", queue=q)
    c.call("queue.bind", queue=q, exchange=ex, key="bk")
    entries = [[None, q, "m%d" % i] for i in range(6)]
    entries.append([None, q, "m6", None, "corr6"])
    entries.append([ex, "bk", "m7"])
    entries.append([None, q, "m8", "rt8", None, {"a": 1}])
    eq(c.call("publish.batch", messages=entries)["routed"], 9, "routed")
    c.call("consume", queue=q, tag="b1", prefetch=100)
    got = c.deliveries(9)
    eq([d.get("body") for d in got], ["m%d" % i for i in range(9)], "bodies in order")
    expect(c.batch_frames, "no deliver.batch frame for 9 queued messages")
    for batch in c.batch_frames:
        expect(batch.get("tag") == "b1" and batch.get("queue") == q, "batch tag/queue: %r" % batch)
        for entry in batch["messages"]:
            expect(isinstance(entry, list) and 5 <= len(entry) <= 8 and is_int(entry[0]) and isinstance(entry[1], bool), "entry shape: %r" % (entry,))
            expect(entry[-1] is not None, "trailing absent fields must be left out: %r" % (entry,))
    numbers = [d["delivery"] for d in got]
    expect(numbers == sorted(numbers) and len(set(numbers)) == 9, "delivery numbers: %r" % numbers)
    eq([d.entry[2:] for d in got], entries, "each entry after delivery and redelivered: the publish entry")
    eq((got[6].get("correlationId"), "replyTo" in got[6]), ("corr6", False), "entry 6 properties")
    eq((got[7].get("exchange"), got[7].get("key")), (ex, "bk"), "entry 7 exchange, key")
    eq((got[8].get("replyTo"), got[8].get("headers"), "correlationId" in got[8]), ("rt8", {"a": 1}, False), "entry 8 properties")
    eq([d.get("exchange") for d in got[:6]], [""] * 6, "a nil exchange is the default exchange")
    expect(all(d.get("redelivered") is False for d in got), "redelivered must be false: %r" % [d.entry for d in got])
    no_deliver_frames(c)
    c.call("ack", deliveries=numbers)
    row = c.call("stats", queue=q)["queues"][0]
    eq((row["depth"], row["unacked"]), (0, 0), "depth, unacked after acking all")


@check("consume", "prefetch 2: two unacked deliveries at most; an ack lets one more through")
def _(t):
    c = t.conn()
    q = t.name("q-prefetch")
    c.call("queue.declare", queue=q)
    c.call("publish.batch", messages=[[None, q, i] for i in range(5)])
    c.call("consume", queue=q, tag="p", prefetch=2)
    got = c.deliveries(2)
    eq([d["body"] for d in got], [0, 1], "the first two")
    eq(c.deliveries(1, timeout=0.4), [], "a third delivery with prefetch 2")
    c.send({"op": "ack", "delivery": got[0]["delivery"]})
    eq([d["body"] for d in c.deliveries(1)], [2], "after one ack")
    eq(c.deliveries(1, timeout=0.4), [], "a fourth delivery with two unacked")


@check("consume", "autoAck true: nothing stays unacked")
def _(t):
    c = t.conn()
    q = t.name("q-autoack")
    c.call("queue.declare", queue=q)
    c.call("publish.batch", messages=[[None, q, i] for i in range(3)])
    c.call("consume", queue=q, autoAck=True)
    eq([d["body"] for d in c.deliveries(3)], [0, 1, 2], "bodies")
    row = c.call("stats", queue=q)["queues"][0]
    eq((row["depth"], row["unacked"]), (0, 0), "depth, unacked")


@check("consume", "competing consumers on one queue are served round-robin")
def _(t):
    c = t.conn()
    q = t.name("q-rr")
    c.call("queue.declare", queue=q)
    c.call("consume", queue=q, tag="a", prefetch=0)
    c.call("consume", queue=q, tag="b", prefetch=0)
    for i in range(4):
        t.main.call("publish", exchange="", key=q, body=i)
    got = c.deliveries(4)
    eq(sorted(d["tag"] for d in got), ["a", "a", "b", "b"], "tags")


@check("consume", "unacked messages of a closed connection come back to the queue marked redelivered")
def _(t):
    c = t.conn()
    q = t.name("q-requeue")
    c.call("queue.declare", queue=q)
    c.call("publish", exchange="", key=q, body="again")
    c.call("consume", queue=q)
    expect(c.deliveries(1), "no delivery")
    c.close()
    deadline = time.monotonic() + 3
    m = None
    while m is None and time.monotonic() < deadline:
        m = t.main.call("queue.get", queue=q, autoAck=True)["message"]
        if m is None:
            time.sleep(0.05)
    expect(m is not None, "the message did not come back")
    eq((m["body"], m["redelivered"]), ("again", True), "body, redelivered")


@check("ack", "ack as a request replies {}; deliveries: [...] acks several")
def _(t):
    c = t.conn()
    q = t.name("q-ack")
    c.call("queue.declare", queue=q)
    c.call("publish.batch", messages=[[None, q, i] for i in range(3)])
    c.call("consume", queue=q)
    got = c.deliveries(3)
    eq(len(got), 3, "deliveries")
    r = ok_reply(c.request("ack", delivery=got[0]["delivery"]))
    eq(sorted(k for k in r if k not in ("op", "re")), [], "reply fields")
    c.call("ack", deliveries=[got[1]["delivery"], got[2]["delivery"]])
    row = c.call("stats", queue=q)["queues"][0]
    eq((row["unacked"], row["acked"]), (0, 3), "unacked, acked")


@check("ack", "acks are per connection: a delivery number of another connection is NOT_FOUND there, fine on its own")
def _(t):
    c = t.conn()
    q = t.name("q-ack-conn")
    c.call("queue.declare", queue=q)
    c.call("publish", exchange="", key=q, body="x")
    c.call("consume", queue=q)
    got = c.deliveries(1)
    expect(got, "no delivery")
    other = t.conn()
    call_error(other, "NOT_FOUND", "ack", delivery=got[0]["delivery"])
    c.call("ack", delivery=got[0]["delivery"])
    call_error(c, "NOT_FOUND", "ack", delivery=got[0]["delivery"])


@check("ack", "an unknown delivery number is NOT_FOUND; the others in the same frame are still acked")
def _(t):
    c = t.conn()
    q = t.name("q-ack-mixed")
    c.call("queue.declare", queue=q)
    c.call("publish", exchange="", key=q, body="x")
    c.call("consume", queue=q)
    got = c.deliveries(1)
    expect(got, "no delivery")
    call_error(c, "NOT_FOUND", "ack", deliveries=[got[0]["delivery"], 999999])
    eq(c.call("stats", queue=q)["queues"][0]["unacked"], 0, "unacked")
    call_error(c, "BAD_ARGUMENT", "ack", delivery=0)


@check("nack", "requeue (default) puts it back at the head marked redelivered; requeue false drops it")
def _(t):
    c = t.conn()
    q = t.name("q-nack")
    c.call("queue.declare", queue=q)
    c.call("publish.batch", messages=[[None, q, "first"], [None, q, "second"]])
    c.call("consume", queue=q, prefetch=1)
    d1 = c.deliveries(1)
    eq([d["body"] for d in d1], ["first"], "first delivery")
    ok_reply(c.request("nack", delivery=d1[0]["delivery"]))
    d2 = c.deliveries(1)
    eq([(d["body"], d.get("redelivered")) for d in d2], [("first", True)], "redelivery")
    expect(d2[0]["delivery"] != d1[0]["delivery"], "a redelivery has a new delivery number")
    c.call("nack", delivery=d2[0]["delivery"], requeue=False)
    d3 = c.deliveries(1)
    eq([d["body"] for d in d3], ["second"], "after the drop")
    c.call("ack", delivery=d3[0]["delivery"])
    row = c.call("stats", queue=q)["queues"][0]
    eq((row["depth"], row["unacked"]), (0, 0), "depth, unacked")
    call_error(c, "NOT_FOUND", "nack", deliveries=[999999])


@check("cancel", "cancel replies {}; no more deliveries to the tag; its unacked stay ackable; an unknown tag is NOT_FOUND")
def _(t):
    c = t.conn()
    q = t.name("q-cancel")
    c.call("queue.declare", queue=q)
    c.call("consume", queue=q, tag="ct")
    t.main.call("publish", exchange="", key=q, body=1)
    got = c.deliveries(1)
    expect(got, "no delivery")
    ok_reply(c.request("cancel", tag="ct"))
    t.main.call("publish", exchange="", key=q, body=2)
    eq(c.deliveries(1, timeout=0.4), [], "deliveries after cancel")
    c.call("ack", delivery=got[0]["delivery"])
    eq(c.call("queue.declare", queue=q)["depth"], 1, "depth")
    call_error(c, "NOT_FOUND", "cancel", tag="ct")


@check("cancelled", "deleting a queue sends its consumers cancelled {tag, queue}")
def _(t):
    c = t.conn()
    q = t.name("q-cancelled")
    c.call("queue.declare", queue=q)
    c.call("consume", queue=q, tag="gone")
    t.main.call("queue.delete", queue=q)
    frame = c.next_message(lambda f: isinstance(f, dict) and f.get("op") == "cancelled", 3)
    expect(frame is not None, "no cancelled frame")
    eq((frame.get("tag"), frame.get("queue")), ("gone", q), "tag, queue")


# ---- pub/sub


@check("subscribe", "subscribe replies {}; a connection with small frames gets PRECONDITION_FAILED")
def _(t):
    c = t.conn()
    r = c.call("subscribe", channel=t.name("ch"))
    eq(sorted(k for k in r if k not in ("op", "re")), [], "reply fields")
    if t.broker_max > 4096:
        call_error(t.conn(frameBytesMax=4096), "PRECONDITION_FAILED", "subscribe", channel=t.name("ch"))


@check("channel.publish", "reply {receivers}; subscribers get message {channel, body}; one-way works too")
def _(t):
    ch = t.name("ch-pub")
    subs = [t.conn(), t.conn()]
    for s in subs:
        s.call("subscribe", channel=ch)
    eq(t.main.call("channel.publish", channel=ch, body={"hi": 1})["receivers"], 2, "receivers")
    t.main.send({"op": "channel.publish", "channel": ch, "body": "one-way"})
    for s in subs:
        m1 = s.next_message(lambda f: isinstance(f, dict) and f.get("op") == "message", 3)
        m2 = s.next_message(lambda f: isinstance(f, dict) and f.get("op") == "message", 3)
        expect(m1 is not None and m2 is not None, "messages missing")
        eq((m1.get("channel"), m1.get("body"), m2.get("body")), (ch, {"hi": 1}, "one-way"), "channel, bodies")
    eq(t.main.call("channel.publish", channel=t.name("ch-nobody"), body=1)["receivers"], 0, "receivers of an empty channel")


@check("unsubscribe", "after unsubscribe nothing more arrives; not subscribed is a no-op")
def _(t):
    ch = t.name("ch-unsub")
    s = t.conn()
    s.call("subscribe", channel=ch)
    ok_reply(s.request("unsubscribe", channel=ch))
    eq(t.main.call("channel.publish", channel=ch, body=1)["receivers"], 0, "receivers")
    s.call("unsubscribe", channel=t.name("ch-never"))
    eq(s.next_message(lambda f: isinstance(f, dict) and f.get("op") == "message", 0.3), None, "message after unsubscribe")


@check("message", "$sys.members announces join and leave (reason closed) of a connection")
def _(t):
    s = t.conn()
    s.call("subscribe", channel="$sys.members")
    node = t.name("joiner")
    j = t.conn(node=node, role="py-joiner")

    def event(kind):
        return lambda f: isinstance(f, dict) and f.get("op") == "message" and isinstance(f.get("body"), dict) and f["body"].get("event") == kind and f["body"].get("node") == node

    join = s.next_message(event("join"), 3)
    expect(join is not None, "no join event")
    eq((join.get("channel"), join["body"].get("role")), ("$sys.members", "py-joiner"), "channel, role")
    expect(is_int(join["body"].get("atMs")), "atMs: %r" % join["body"])
    j.close()
    leave = s.next_message(event("leave"), 3)
    expect(leave is not None, "no leave event")
    eq(leave["body"].get("reason"), "closed", "reason")


# ---- shared state


@check("set", "set replies {}; get returns the value as stored (map, ints up to 2^40, float, bool, nil, bin, str)")
def _(t):
    key = t.name("kv")
    value = {"a": [1, -1, 2 ** 40, -(2 ** 40), 1.5, True, False, None, b"\x00\xff", "\u00fc"], "b": {"c": "d"}}
    r = t.main.call("set", key=key, value=value)
    eq(sorted(k for k in r if k not in ("op", "re")), [], "reply fields")
    eq(t.main.call("get", key=key).get("value"), value, "value")


@check("set", "ttlMs expires a value; ttlMs 0 and a nil value are BAD_ARGUMENT")
def _(t):
    key = t.name("ttl")
    t.main.call("set", key=key, value="soon", ttlMs=400)
    eq(t.main.call("get", key=key)["value"], "soon", "before expiry")
    time.sleep(0.4)
    deadline = time.monotonic() + 3
    while t.main.call("get", key=key)["value"] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    eq(t.main.call("get", key=key)["value"], None, "after expiry")
    call_error(t.main, "BAD_ARGUMENT", "set", key=key, value="x", ttlMs=0)
    call_error(t.main, "BAD_ARGUMENT", "set", key=key, value=None)


@check("get", "a missing key is value nil; a list is WRONG_TYPE")
def _(t):
    r = t.main.call("get", key=t.name("missing"))
    expect("value" in r and r["value"] is None, "value nil: %r" % (r,))
    key = t.name("get-list")
    t.main.call("rpush", key=key, values=[1])
    call_error(t.main, "WRONG_TYPE", "get", key=key)


@check("del", "deletes keys of any type, replying the count")
def _(t):
    a, b, c = t.name("del-a"), t.name("del-b"), t.name("del-c")
    t.main.call("set", key=a, value=1)
    t.main.call("rpush", key=b, values=[1])
    t.main.call("sadd", key=c, members=["m"])
    eq(t.main.call("del", keys=[a, b, c, t.name("del-missing")])["count"], 3, "count")
    eq(t.main.call("del", keys=[a])["count"], 0, "count again")
    call_error(t.main, "BAD_ARGUMENT", "del", keys=[])


@check("incr", "a missing key counts as 0; by 2**40 twice gives 2**41, an integer (raw type byte not 0xcb)")
def _(t):
    key = t.name("incr")
    eq(t.main.call("incr", key=key)["value"], 1, "incr of a missing key")
    r = t.main.call("incr", key=key, by=2 ** 40)
    eq(r["value"], 2 ** 40 + 1, "value")
    r = t.main.call("incr", key=key, by=2 ** 40)
    eq(r["value"], 2 ** 41 + 1, "value past 2^32")
    expect(r.types.get("value") in (0xCF, 0xD3), "a value past 2^32 must be a msgpack uint64/int64, got type byte 0x%02x" % (r.types.get("value") or 0))
    g = t.main.call("get", key=key)
    eq(g["value"], 2 ** 41 + 1, "get")
    expect(g.types.get("value") != 0xCB, "get must return an integer, not float64")


@check("incr", "a decimal string becomes an integer; a non-integer is BAD_ARGUMENT; a list is WRONG_TYPE")
def _(t):
    key = t.name("incr-str")
    t.main.call("set", key=key, value="10")
    eq(t.main.call("incr", key=key)["value"], 11, "incr of '10'")
    eq(t.main.call("get", key=key)["value"], 11, "stored as an integer")
    t.main.call("set", key=key, value="abc")
    call_error(t.main, "BAD_ARGUMENT", "incr", key=key)
    t.main.call("set", key=key, value=1.5)
    call_error(t.main, "BAD_ARGUMENT", "incr", key=key)
    lkey = t.name("incr-list")
    t.main.call("rpush", key=lkey, values=[1])
    call_error(t.main, "WRONG_TYPE", "incr", key=lkey)


@check("incr", "by 2**53 and a result past 2^53-1 are BAD_ARGUMENT; the value is unchanged")
def _(t):
    key = t.name("incr-big")
    call_error(t.main, "BAD_ARGUMENT", "incr", key=key, by=2 ** 53)
    t.main.call("incr", key=key, by=2 ** 53 - 2)
    call_error(t.main, "BAD_ARGUMENT", "incr", key=key, by=2)
    eq(t.main.call("get", key=key)["value"], 2 ** 53 - 2, "value unchanged")
    eq(t.main.call("incr", key=key, by=-(2 ** 53 - 2))["value"], 0, "back to 0")


@check("rpush", "appends and replies the length; on a string key WRONG_TYPE; no values BAD_ARGUMENT")
def _(t):
    key = t.name("list")
    eq(t.main.call("rpush", key=key, values=["a", "b"])["length"], 2, "length")
    eq(t.main.call("rpush", key=key, values=["c"])["length"], 3, "length")
    skey = t.name("list-str")
    t.main.call("set", key=skey, value="s")
    call_error(t.main, "WRONG_TYPE", "rpush", key=skey, values=[1])
    call_error(t.main, "BAD_ARGUMENT", "rpush", key=key, values=[])


@check("lpush", "prepends each value in turn: lpush [x, y] gives y, x, ...")
def _(t):
    key = t.name("list")
    eq(t.main.call("lpush", key=key, values=["x", "y"])["length"], 5, "length")
    eq(t.main.call("lrange", key=key, start=0, stop=-1)["values"], ["y", "x", "a", "b", "c"], "list")


@check("lrange", "inclusive ranges, negatives from the end, out of range empty")
def _(t):
    key = t.name("list")
    eq(t.main.call("lrange", key=key, start=1, stop=2)["values"], ["x", "a"], "1..2")
    eq(t.main.call("lrange", key=key, start=-2, stop=-1)["values"], ["b", "c"], "-2..-1")
    eq(t.main.call("lrange", key=key, start=10, stop=20)["values"], [], "10..20")
    eq(t.main.call("lrange", key=t.name("missing"), start=0, stop=-1)["values"], [], "missing key")


@check("llen", "a list's length; 0 for a missing key; WRONG_TYPE for a set")
def _(t):
    eq(t.main.call("llen", key=t.name("list"))["length"], 5, "length")
    eq(t.main.call("llen", key=t.name("missing"))["length"], 0, "missing")
    skey = t.name("llen-set")
    t.main.call("sadd", key=skey, members=["a"])
    call_error(t.main, "WRONG_TYPE", "llen", key=skey)


@check("lpop", "value from the head; with count values; a missing key: value nil, values []")
def _(t):
    key = t.name("list")
    eq(t.main.call("lpop", key=key)["value"], "y", "lpop")
    eq(t.main.call("lpop", key=key, count=2)["values"], ["x", "a"], "lpop count 2")
    r = t.main.call("lpop", key=t.name("missing"))
    expect("value" in r and r["value"] is None, "value nil: %r" % (r,))
    eq(t.main.call("lpop", key=t.name("missing"), count=3).get("values"), [], "values []")


@check("rpop", "value from the tail; with count values; an emptied list stops existing")
def _(t):
    key = t.name("list")
    eq(t.main.call("rpop", key=key)["value"], "c", "rpop")
    eq(t.main.call("rpop", key=key, count=5)["values"], ["b"], "rpop count 5")
    eq(t.main.call("llen", key=key)["length"], 0, "length")
    t.main.call("sadd", key=key, members=["now-a-set"])  # the list is gone: the key can be a set
    t.main.call("del", keys=[key])


@check("lrange", "a reply larger than the requester's frameBytesMax 4096 is REPLY_TOO_LARGE with re; pops take nothing")
def _(t):
    key = t.name("biglist")
    small = t.conn(frameBytesMax=4096)
    small.call("rpush", key=key, values=["v" * 1000 for _ in range(10)])
    call_error(small, "REPLY_TOO_LARGE", "lrange", key=key, start=0, stop=-1)
    eq(len(small.call("lrange", key=key, start=0, stop=1)["values"]), 2, "a smaller range fits")
    call_error(small, "REPLY_TOO_LARGE", "lpop", key=key, count=10)
    eq(small.call("llen", key=key)["length"], 10, "nothing taken")
    expect(not small.oversized, "the node sent frames larger than 4096: %r" % small.oversized)


@check("lrange", "more than 100,000 elements is REPLY_TOO_LARGE even when the bytes would fit")
def _(t):
    key = t.name("hugelist")
    for _ in range(2):
        t.main.call("rpush", key=key, values=[1] * 60000)
    call_error(t.main, "REPLY_TOO_LARGE", "lrange", key=key, start=0, stop=-1)
    eq(len(t.main.call("lrange", key=key, start=0, stop=99999)["values"]), 100000, "100,000 elements fit")
    t.main.call("del", keys=[key])


@check("blpop", "takes from the first non-empty list at once; times out with key nil, value nil")
def _(t):
    k1, k2 = t.name("bl-1"), t.name("bl-2")
    t.main.call("rpush", key=k2, values=["v"])
    r = t.main.call("blpop", keys=[k1, k2], timeoutMs=1000)
    eq((r.get("key"), r.get("value")), (k2, "v"), "key, value")
    start = time.monotonic()
    r = t.main.call("blpop", keys=[k1], timeoutMs=100)
    elapsed = time.monotonic() - start
    expect("key" in r and r["key"] is None and "value" in r and r["value"] is None, "timeout reply: %r" % (r,))
    expect(elapsed >= 0.08, "returned after %.3f s, before the 100 ms timeout" % elapsed)


@check("blpop", "a blocked client is served by a later push from another connection")
def _(t):
    key = t.name("bl-wait")
    c = t.conn()
    rid = c.send_request("blpop", keys=[key], timeoutMs=3000)
    time.sleep(0.1)
    t.main.call("rpush", key=key, values=["late"])
    r = ok_reply(c.wait_reply(rid), rid)
    eq((r.get("key"), r.get("value")), (key, "late"), "key, value")
    call_error(t.main, "BAD_ARGUMENT", "blpop", keys=[], timeoutMs=10)


@check("sadd", "replies the number added; 3 and '3' are two members")
def _(t):
    key = t.name("set")
    eq(t.main.call("sadd", key=key, members=["a", "b", 3, "3"])["added"], 4, "added")
    eq(t.main.call("sadd", key=key, members=["a", "c"])["added"], 1, "added again")
    call_error(t.main, "WRONG_TYPE", "sadd", key=t.name("get-list"), members=["x"])


@check("smembers", "every member, strings and numbers kept apart")
def _(t):
    members = t.main.call("smembers", key=t.name("set"))["members"]
    eq(sorted(members, key=repr), sorted(["a", "b", "c", 3, "3"], key=repr), "members")
    eq(t.main.call("smembers", key=t.name("missing"))["members"], [], "missing key")


@check("srem", "replies the number removed")
def _(t):
    key = t.name("set")
    eq(t.main.call("srem", key=key, members=[3, "zz"])["removed"], 1, "removed")
    eq(sorted(t.main.call("smembers", key=key)["members"], key=repr), sorted(["a", "b", "c", "3"], key=repr), "members")


@check("srandmember", "member from the set; with count distinct members; an empty set gives member nil")
def _(t):
    key = t.name("set")
    all_members = ["a", "b", "c", "3"]
    m = t.main.call("srandmember", key=key)
    expect(m.get("member") in all_members, "member: %r" % (m,))
    ms = t.main.call("srandmember", key=key, count=2)["members"]
    expect(len(ms) == 2 and len(set(ms)) == 2 and all(x in all_members for x in ms), "members: %r" % (ms,))
    eq(len(t.main.call("srandmember", key=key, count=10)["members"]), 4, "count above the size")
    r = t.main.call("srandmember", key=t.name("missing"))
    expect("member" in r and r["member"] is None, "member nil: %r" % (r,))


@check("smembers", "a set larger than the requester's frames is REPLY_TOO_LARGE")
def _(t):
    key = t.name("bigset")
    small = t.conn(frameBytesMax=4096)
    small.call("sadd", key=key, members=["%04d" % i + "s" * 1000 for i in range(8)])
    call_error(small, "REPLY_TOO_LARGE", "smembers", key=key)


# ---- membership and stats


@check("members", "lists connected nodes {node, role, address, connectedAtMs, lastSeenMs}; role filters")
def _(t):
    role = t.name("role")
    node = t.name("member")
    t.conn(node=node, role=role)
    all_members = t.main.call("members")["members"]
    nodes = [m.get("node") for m in all_members]
    expect(node in nodes, "node %s missing from %r" % (node, nodes))
    for m in all_members:
        expect(isinstance(m.get("address"), str) and is_int(m.get("connectedAtMs")) and is_int(m.get("lastSeenMs")) and isinstance(m.get("role"), str), "member fields: %r" % m)
    only = t.main.call("members", role=role)["members"]
    eq([(m["node"], m["role"]) for m in only], [(node, role)], "filtered by role")


STATS_ROW = ["queue", "depth", "unacked", "consumers", "exclusive", "maxLength", "overflow", "published", "delivered", "acked", "redelivered", "dropped", "rates"]


@check("stats", "a queue's row with every field and rates; totals; a missing queue is NOT_FOUND")
def _(t):
    q = t.name("q-stats")
    t.main.call("queue.declare", queue=q, maxLength=50)
    t.main.call("publish", exchange="", key=q, body=1)
    r = t.main.call("stats", queue=q)
    rows = r["queues"]
    eq([row.get("queue") for row in rows], [q], "rows")
    row = rows[0]
    missing = [f for f in STATS_ROW if f not in row]
    expect(not missing, "row fields missing: %r" % missing)
    eq((row["depth"], row["published"], row["maxLength"], row["exclusive"], row["overflow"]), (1, 1, 50, False, "reject"), "depth, published, maxLength, exclusive, overflow")
    for kind in ("published", "delivered", "acked"):
        rate = row["rates"].get(kind)
        expect(isinstance(rate, dict) and all(isinstance(rate.get(p), (int, float)) and not isinstance(rate.get(p), bool) for p in ("perSec1s", "perSec10s")), "rates.%s: %r" % (kind, rate))
    for total in ("connections", "consumers", "channels", "keys", "bytes", "bytesMax"):
        expect(is_int(r.get(total)), "total %s: %r" % (total, r.get(total)))
    call_error(t.main, "NOT_FOUND", "stats", queue=t.name("q-missing"))


@check("stats", "limit pages in name order with next, continued with after")
def _(t):
    mine = [t.name("page-%d" % i) for i in range(3)]
    for q in mine:
        t.main.call("queue.declare", queue=q)
    r = t.main.call("stats", after=mine[0], limit=1)
    eq([row["queue"] for row in r["queues"]], [mine[1]], "the row after %s" % mine[0])
    expect(isinstance(r.get("next"), str), "next must be set when more follow: %r" % r.get("next"))
    seen, after, pages = [], None, 0
    while True:
        fields = {"limit": 2}
        if after is not None:
            fields["after"] = after
        page = t.main.call("stats", **fields)
        expect(len(page["queues"]) <= 2, "page larger than limit: %d" % len(page["queues"]))
        seen.extend(row["queue"] for row in page["queues"])
        pages += 1
        after = page.get("next")
        if after is None or pages > 10000:
            break
    expect(seen == sorted(seen) and len(seen) == len(set(seen)), "pages not in strict name order")
    expect(all(q in seen for q in mine), "our queues missing from the pages")
    whole = [row["queue"] for row in t.main.call("stats")["queues"]]
    eq(seen, whole, "all pages vs one page")
    call_error(t.main, "BAD_ARGUMENT", "stats", limit=0)


# ---------------------------------------------------------------------------------------------


def conformance(address):
    passed = failed = 0
    expected = []
    labels = []
    try:
        t = Run(address)
    except Exception as err:  # noqa: BLE001 - report, do not crash
        print("FAIL hello: connect and hello: %s: %s" % (type(err).__name__, err))
        print("covered: ")
        print("0 passed, 1 failed")
        return 1
    if "broker" not in (t.main.hello.get("serves") or []):
        print("FAIL hello: %s is a %s, not a broker" % (address, t.main.hello.get("role")))
        print("covered: ")
        print("0 passed, 1 failed")
        return 1
    for op, what, fn in CHECKS:
        labels.append(op)
        key = "%s: %s" % (op, what)
        try:
            fn(t)
            error = None
        except CheckFailed as err:
            error = str(err)
        except Exception as err:  # noqa: BLE001 - any surprise is a failed check
            error = "%s: %s" % (type(err).__name__, err)
        if error is not None and len(error) > 600:
            error = error[:600] + "..."
        if key in EXPECTED_FAIL:
            if error is None:
                failed += 1
                print("FAIL %s: passes but is listed in EXPECTED_FAIL (remove it from the list)" % key)
            else:
                expected.append(key)
                print("expected FAIL %s: %s" % (key, error))
        elif error is None:
            passed += 1
            print("ok %s" % key)
        else:
            failed += 1
            print("FAIL %s: %s" % (key, error))
        sys.stdout.flush()
    t.close_all()
    print("covered: %s" % " ".join(op for op in ALL_OPS if op in labels))
    if expected:
        print("%d expected failures (EXPECTED_FAIL): the broker disagrees with the spec there" % len(expected))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main(argv):
    if len(argv) == 1 and argv[0] not in ("-h", "--help", "--conformance"):
        return demo(argv[0])
    if len(argv) == 2 and argv[0] == "--conformance":
        return conformance(argv[1])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
