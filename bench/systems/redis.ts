// Redis lists, driven as its best users drive a work queue on Redis 7: the client pushes each
// turn's requests with one multi-value RPUSH; the worker takes up to W at a time with one BLMPOP
// (blocking, with COUNT) and pushes all its results with one RPUSH; the client takes its replies
// the same way. Requests are "seq|replyList|text".

import Redis from "ioredis";
import { censor } from "../insult_workload.ts";
import { perTurn, pidOf, tcpOpen, type BenchSystem } from "./system.ts";

export const HOST = "127.0.0.1";
export const PORT = 6379;

/** BLMPOP timeout 1 key LEFT COUNT n: up to n elements, waiting for the first. */
async function takeMany(redis: Redis, key: string, count: number, timeoutSeconds: number): Promise<string[]> {
  const reply = (await redis.call("BLMPOP", timeoutSeconds, 1, key, "LEFT", "COUNT", count)) as [string, string[]] | null;
  return reply === null ? [] : reply[1];
}

export async function runWorker(_address: string, runId: string, window: number): Promise<void> {
  const pop = new Redis({ host: HOST, port: PORT });
  const push = new Redis({ host: HOST, port: PORT });
  const queue = `texts-${runId}`;
  void (async () => {
    for (;;) {
      const items = await takeMany(pop, queue, window, 0);
      const byReply = new Map<string, string[]>();
      for (const item of items) {
        const a = item.indexOf("|");
        const b = item.indexOf("|", a + 1);
        const key = item.slice(a + 1, b);
        const list = byReply.get(key) ?? [];
        list.push(`${item.slice(0, a)}|${censor(item.slice(b + 1))}`);
        byReply.set(key, list);
      }
      for (const [key, results] of byReply) void push.rpush(key, ...results);
    }
  })();
}

/** The Redis server on its usual loopback port: what both Redis variants (lists, streams) share. */
export abstract class RedisServer {
  async unreachable(): Promise<string | null> {
    return (await tcpOpen(HOST, PORT)) ? null : `nothing listens on ${HOST}:${PORT}`;
  }
  serverPid(): number | null {
    return pidOf("redis-server");
  }
}

export class RedisSystem extends RedisServer implements BenchSystem {
  name = "redis";
  clients = "ioredis; client: one multi-value RPUSH per turn, replies by BLMPOP COUNT; worker: BLMPOP COUNT W, one RPUSH of all results";
  async prepare(runId: string): Promise<string> {
    const r = new Redis({ host: HOST, port: PORT });
    await r.del(`texts-${runId}`, `replies-${runId}`);
    r.disconnect();
    return `${HOST}:${PORT}`;
  }
  async connectClient(runId: string, window: number, onReply: (seq: number, reply: string) => void) {
    const push = new Redis({ host: HOST, port: PORT });
    const pop = new Redis({ host: HOST, port: PORT });
    const queue = `texts-${runId}`;
    const replies = `replies-${runId}`;
    let open = true;
    void (async () => {
      while (open) {
        const items = await takeMany(pop, replies, window, 1).catch(() => []);
        for (const item of items) {
          const a = item.indexOf("|");
          onReply(Number(item.slice(0, a)), item.slice(a + 1));
        }
      }
    })();
    const send = perTurn<string>((batch) => void push.rpush(queue, ...batch));
    return {
      send: (seq: number, text: string) => send(`${seq}|${replies}|${text}`),
      close: async () => {
        open = false;
        push.disconnect();
        pop.disconnect();
      },
    };
  }
}
