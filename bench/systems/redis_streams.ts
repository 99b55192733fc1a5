// Redis streams with a consumer group: the closest Redis has to a work queue with acks (what
// peer-node and RabbitMQ give). The client adds each turn's requests in one pipeline of XADDs; the
// worker reads up to W with XREADGROUP (blocking), and writes its replies and its XACK of the
// whole batch in one pipeline; the client reads its reply stream with XREAD (blocking, COUNT).

import Redis from "ioredis";
import { censor } from "../insult_workload.ts";
import { HOST, PORT, RedisServer } from "./redis.ts";
import { perTurn, type BenchSystem } from "./system.ts";

const GROUP = "workers";

export async function runWorker(_address: string, runId: string, window: number): Promise<void> {
  const read = new Redis({ host: HOST, port: PORT });
  const write = new Redis({ host: HOST, port: PORT });
  const stream = `texts-${runId}`;
  void (async () => {
    for (;;) {
      const got = (await read.xreadgroup("GROUP", GROUP, "w1", "COUNT", window, "BLOCK", 0, "STREAMS", stream, ">")) as Array<[string, Array<[string, string[]]>]> | null;
      if (got === null) continue;
      const entries = got[0]![1];
      const pipeline = write.pipeline();
      for (const [, fields] of entries) pipeline.xadd(fields[3]!, "*", "s", fields[1]!, "t", censor(fields[5]!));
      pipeline.xack(stream, GROUP, ...entries.map(([id]) => id));
      void pipeline.exec();
    }
  })();
}

export class RedisStreamsSystem extends RedisServer implements BenchSystem {
  name = "redis-streams";
  clients = "ioredis; client: one pipeline of XADDs per turn, replies by XREAD BLOCK COUNT; worker: XREADGROUP COUNT W, one pipeline of XADDs + one XACK per batch";
  async prepare(runId: string): Promise<string> {
    const r = new Redis({ host: HOST, port: PORT });
    await r.del(`texts-${runId}`, `replies-${runId}`);
    await r.xgroup("CREATE", `texts-${runId}`, GROUP, "$", "MKSTREAM");
    r.disconnect();
    return `${HOST}:${PORT}`;
  }
  async connectClient(runId: string, window: number, onReply: (seq: number, reply: string) => void) {
    const write = new Redis({ host: HOST, port: PORT });
    const read = new Redis({ host: HOST, port: PORT });
    const stream = `texts-${runId}`;
    const replies = `replies-${runId}`;
    let open = true;
    let last = "0";
    void (async () => {
      while (open) {
        const got = (await read.xread("COUNT", window, "BLOCK", 1000, "STREAMS", replies, last).catch(() => null)) as Array<[string, Array<[string, string[]]>]> | null;
        if (got === null) continue;
        for (const [id, fields] of got[0]![1]) {
          last = id;
          onReply(Number(fields[1]), fields[3]!);
        }
      }
    })();
    const send = perTurn<[number, string]>((batch) => {
      const pipeline = write.pipeline();
      for (const [seq, text] of batch) pipeline.xadd(stream, "*", "s", String(seq), "r", replies, "t", text);
      void pipeline.exec();
    });
    return {
      send: (seq: number, text: string) => send([seq, text]),
      close: async () => {
        open = false;
        write.disconnect();
        read.disconnect();
        const r = new Redis({ host: HOST, port: PORT });
        await r.del(stream, replies);
        r.disconnect();
      },
    };
  }
}
