// A raw TCP connection for protocol tests: send arbitrary bytes or frames, read decoded frames
// back, and see when the node closed the connection.

import type { Socket } from "bun";
import { PROTOCOL_VERSION, type Envelope } from "../../protocols/core.ts";
import { decodeBody, encodeFrame } from "../../src/wire/codec.ts";
import { FrameDecoder } from "../../src/wire/frame_decoder.ts";
import { waitFor } from "./wait_for.ts";

export class RawSocket {
  readonly frames: Envelope[] = [];
  /** Every body received, undecoded, in order (to check exact encodings). */
  readonly bodies: Uint8Array[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private socket!: Socket<undefined>;

  static async connect(host: string, port: number): Promise<RawSocket> {
    const raw = new RawSocket();
    raw.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => {
          raw.decoder.feed(chunk, (body) => {
            raw.bodies.push(new Uint8Array(body)); // a copy: body may be a view of a Buffer
            raw.frames.push(decodeBody(body, undefined, true)); // lenient, as a client
          });
        },
        close: () => {
          raw.closed = true;
        },
        error: () => {
          raw.closed = true;
        },
      },
    });
    return raw;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  send(message: object): void {
    this.write(encodeFrame(message));
  }

  /** One frame whose body is exactly these bytes. */
  sendBody(body: Uint8Array): void {
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length);
    frame.set(body, 4);
    this.write(frame);
  }

  /** Wait for the next frame matching `predicate` (default: any frame not yet consumed). */
  async next(predicate: (frame: Envelope) => boolean = () => true, timeoutMs = 3_000): Promise<Envelope> {
    return waitFor(() => {
      const at = this.frames.findIndex(predicate);
      return at >= 0 ? this.frames.splice(at, 1)[0] : undefined;
    }, timeoutMs);
  }

  async waitClosed(timeoutMs = 3_000): Promise<void> {
    await waitFor(() => this.closed, timeoutMs);
  }

  /** Send hello with the current protocol version and wait for the reply. */
  async hello(fields: object = {}): Promise<Envelope> {
    // A node id of its own: a broker admits one live connection per node id and role.
    const node = `raw-test-${Math.random().toString(36).slice(2, 8)}`;
    this.send({ op: "hello", id: 1, node, role: "client", version: PROTOCOL_VERSION, heartbeatMs: 0, ...fields });
    return this.next((frame) => frame.re === 1);
  }

  close(): void {
    this.socket.end();
  }
}
