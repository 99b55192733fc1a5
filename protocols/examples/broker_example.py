#!/usr/bin/env python3
"""A peer-node broker client in plain Python, written from protocols/README.md and broker.md only.

Needs the standard library and Debian's python3-msgpack (apt-get install python3-msgpack).
Usage: python3 broker_example.py HOST:PORT

It declares a queue, publishes three messages with confirms, consumes them with manual acks,
pushes to a shared list and reads it back, then prints one line per step and exits 0.
"""
import socket
import struct
import sys

import msgpack


class PeerNodeError(Exception):
    def __init__(self, reply):
        super().__init__(f"{reply.get('name')} ({reply.get('code')}): {reply.get('message')}")
        self.code = reply.get("code")
        self.name = reply.get("name")


class Client:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buffer = b""
        self.next_id = 1
        self.inbox = []  # one-way messages (deliveries) that arrived while waiting for a reply
        # heartbeatMs 0: this simple blocking client does not answer pings while it waits.
        self.hello = self.request("hello", node="python-example", role="client", version=1, heartbeatMs=0)

    def send(self, message):
        body = msgpack.packb(message, use_bin_type=True)
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def read_frame(self):
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack(">I", self.buffer[:4])
                if len(self.buffer) >= 4 + length:
                    body = self.buffer[4 : 4 + length]
                    self.buffer = self.buffer[4 + length :]
                    return msgpack.unpackb(body, raw=False)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the node")
            self.buffer += chunk

    def request(self, op, **fields):
        request_id = self.next_id
        self.next_id += 1
        self.send({"op": op, "id": request_id, **fields})
        while True:
            frame = self.read_frame()
            if frame.get("re") == request_id:
                if frame["op"] == "error":
                    raise PeerNodeError(frame)
                return frame
            if frame["op"] == "ping" and "id" in frame:
                self.send({"op": "ok", "re": frame["id"]})
            elif frame["op"] == "error" and "re" not in frame:
                raise PeerNodeError(frame)
            else:
                self.inbox.append(frame)

    def next_delivery(self):
        """The next delivery, from a single `deliver` frame or unpacked from a `deliver.batch`."""
        while True:
            while self.inbox:
                frame = self.inbox.pop(0)
                if frame["op"] == "deliver":
                    return frame
                if frame["op"] == "deliver.batch":
                    expanded = [expand(frame, entry) for entry in frame["messages"]]
                    self.inbox[0:0] = expanded
            frame = self.read_frame()
            if frame["op"] == "ping" and "id" in frame:
                self.send({"op": "ok", "re": frame["id"]})
            else:
                self.inbox.append(frame)


BATCH_FIELDS = ["delivery", "key", "body", "redelivered", "replyTo", "correlationId", "headers", "exchange"]


def expand(batch, entry):
    """One positional deliver.batch entry as a deliver frame (absent fields left out)."""
    frame = {"op": "deliver", "tag": batch["tag"], "queue": batch["queue"]}
    for name, value in zip(BATCH_FIELDS, entry):
        if value is not None:
            frame[name] = value
    return frame


def main():
    host, _, port = sys.argv[1].rpartition(":")
    client = Client(host, int(port))
    print(f"connected to {client.hello['node']} ({client.hello['role']}), frameBytesMax {client.hello['frameBytesMax']}")

    queue = client.request("queue.declare", queue="python-jobs")["queue"]
    for text in ["alpha", "beta", "gamma"]:
        routed = client.request("publish", exchange="", key=queue, body=text)["routed"]
        print(f"published {text} routed={routed}")

    client.request("consume", queue=queue, tag="py", prefetch=10)
    for _ in range(3):
        delivery = client.next_delivery()
        client.send({"op": "ack", "delivery": delivery["delivery"]})
        print(f"consumed {delivery['body']} delivery={delivery['delivery']} redelivered={delivery.get('redelivered', False)}")

    client.request("del", keys=["python-list"])
    length = client.request("rpush", key="python-list", values=["x", "y", 3])["length"]
    values = client.request("lrange", key="python-list", start=0, stop=-1)["values"]
    print(f"list length={length} values={values}")

    try:
        client.request("sadd", key="python-list", members=["oops"])
    except PeerNodeError as err:
        print(f"typed error {err.name} code={err.code}")

    stats = client.request("stats", queue=queue)["queues"][0]
    print(f"stats depth={stats['depth']} unacked={stats['unacked']} acked={stats['acked']}")


if __name__ == "__main__":
    main()
