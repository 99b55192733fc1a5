// NATS with nats.js: the worker subscribes in a queue group and answers each request on its reply
// subject; the client uses request() (one shared reply inbox).

import { connect, StringCodec } from "nats";
import { censor } from "../insult_workload.ts";
import { tcpOpen, type BenchSystem } from "./system.ts";

const HOST = "127.0.0.1";
const PORT = 4222;
const sc = StringCodec();

export async function runWorker(_address: string, runId: string): Promise<void> {
  const nc = await connect({ servers: `${HOST}:${PORT}` });
  nc.subscribe(`texts.${runId}`, { queue: "workers", callback: (_err, msg) => msg.respond(sc.encode(censor(sc.decode(msg.data)))) });
  await nc.flush();
}

export class NatsSystem implements BenchSystem {
  name = "nats";
  async unreachable(): Promise<string | null> {
    return (await tcpOpen(HOST, PORT)) ? null : `nothing listens on ${HOST}:${PORT}`;
  }
  async prepare(): Promise<string> {
    return `${HOST}:${PORT}`;
  }
  async connectClient(runId: string, _window: number, onReply: (seq: number, reply: string) => void) {
    const nc = await connect({ servers: `${HOST}:${PORT}` });
    const subject = `texts.${runId}`;
    return {
      send: (seq: number, text: string) => {
        nc.request(subject, sc.encode(text), { timeout: 60_000 }).then((m) => onReply(seq, sc.decode(m.data)));
      },
      close: () => nc.close(),
    };
  }
}
