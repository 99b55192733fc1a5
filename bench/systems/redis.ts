// Redis with ioredis: the client RPUSHes "seq|replyKey|text" (auto-pipelined); the worker takes
// batches with BLPOP + LPOP count and RPUSHes replies in one pipeline; the client drains its reply
// list the same way. This is how the seed used Redis as a work queue.

import Redis from "ioredis";
import { censor } from "../insult_workload.ts";
import { tcpOpen, type BenchSystem } from "./system.ts";

const HOST = "127.0.0.1";
const PORT = 6379;

export async function runWorker(_address: string, runId: string, window: number): Promise<void> {
  const pop = new Redis({ host: HOST, port: PORT });
  const push = new Redis({ host: HOST, port: PORT, enableAutoPipelining: true });
  const queue = `texts-${runId}`;
  void (async () => {
    for (;;) {
      const first = await pop.blpop(queue, 0);
      if (first === null) continue;
      const rest = (await pop.lpop(queue, Math.max(1, window - 1))) ?? [];
      const pipeline = push.pipeline();
      for (const item of [first[1], ...rest]) {
        const a = item.indexOf("|");
        const b = item.indexOf("|", a + 1);
        pipeline.rpush(item.slice(a + 1, b), `${item.slice(0, a)}|${censor(item.slice(b + 1))}`);
      }
      await pipeline.exec();
    }
  })();
}

export class RedisSystem implements BenchSystem {
  name = "redis";
  async unreachable(): Promise<string | null> {
    return (await tcpOpen(HOST, PORT)) ? null : `nothing listens on ${HOST}:${PORT}`;
  }
  async prepare(runId: string): Promise<string> {
    const r = new Redis({ host: HOST, port: PORT });
    await r.del(`texts-${runId}`, `replies-${runId}`);
    r.disconnect();
    return `${HOST}:${PORT}`;
  }
  async connectClient(runId: string, window: number, onReply: (seq: number, reply: string) => void) {
    const push = new Redis({ host: HOST, port: PORT, enableAutoPipelining: true });
    const pop = new Redis({ host: HOST, port: PORT });
    const queue = `texts-${runId}`;
    const replies = `replies-${runId}`;
    let open = true;
    void (async () => {
      while (open) {
        const first = await pop.blpop(replies, 1).catch(() => null);
        if (first === null) continue;
        const rest = (await pop.lpop(replies, window)) ?? [];
        for (const item of [first[1], ...rest]) {
          const a = item.indexOf("|");
          onReply(Number(item.slice(0, a)), item.slice(a + 1));
        }
      }
    })();
    return {
      send: (seq: number, text: string) => void push.rpush(queue, `${seq}|${replies}|${text}`),
      close: async () => {
        open = false;
        push.disconnect();
        pop.disconnect();
      },
    };
  }
}
