// NATS with nats.js, driven as its best users drive request/reply at volume: the worker
// subscribes in a queue group and answers each message on its reply subject; the client subscribes
// once to a wildcard inbox and publishes every request with a reply subject in it (no request()
// per message, so no promise or timer each). nats.js gathers writes and flushes them per turn.

import { connect, createInbox, StringCodec } from "nats";
import { censor } from "../insult_workload.ts";
import { pidOf, tcpOpen, type BenchSystem } from "./system.ts";

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
  clients = "nats.js; client: one wildcard reply inbox, publish with a reply subject per request; worker: queue group, respond";
  async unreachable(): Promise<string | null> {
    return (await tcpOpen(HOST, PORT)) ? null : `nothing listens on ${HOST}:${PORT}`;
  }
  serverPid(): number | null {
    return pidOf("nats-server");
  }
  async prepare(): Promise<string> {
    return `${HOST}:${PORT}`;
  }
  async connectClient(runId: string, _window: number, onReply: (seq: number, reply: string) => void) {
    const nc = await connect({ servers: `${HOST}:${PORT}` });
    const inbox = createInbox();
    const prefix = `${inbox}.`;
    nc.subscribe(`${inbox}.*`, { callback: (_err, msg) => onReply(Number(msg.subject.slice(prefix.length)), sc.decode(msg.data)) });
    await nc.flush();
    const subject = `texts.${runId}`;
    return {
      send: (seq: number, text: string) => nc.publish(subject, sc.encode(text), { reply: `${prefix}${seq}` }),
      close: () => nc.close(),
    };
  }
}
