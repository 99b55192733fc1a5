// A reducer's connections to the workers that hold map outputs: an UpstreamPool, one connection
// per fetch address, made on first use and dropped when lost. A peer that does not answer within fetchConnectWindowMs,
// or that dies mid-fetch (its connection closes or misses heartbeats), is a fetch failure: the
// reducer reports it and the coordinator has the map run again.

import { mapreduceFetch } from "../../protocols/mapreduce.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import type { Identity } from "../runtime/handshake.ts";
import type { Logger } from "../runtime/log.ts";
import { UpstreamPool } from "../runtime/upstream_pool.ts";

export interface FetchPoolOptions {
  identity: Identity;
  token?: string;
  heartbeatMs?: number;
  frameBytesMax: number;
  log: Logger;
}

export class FetchPool {
  private readonly peers: UpstreamPool;

  constructor(o: FetchPoolOptions) {
    this.peers = new UpstreamPool({
      serves: "mapreduce.fetch",
      what: "worker",
      identity: o.identity,
      token: o.token,
      heartbeatMs: o.heartbeatMs,
      frameBytesMax: o.frameBytesMax,
      firstConnectWindowMs: limits.fetchConnectWindowMs,
      lostWindowMs: 0, // a lost peer is a failed fetch, not something to wait for
      log: o.log,
    });
  }

  /**
   * Fetch one map's output for one partition from `address`, chunk by chunk, handing each chunk
   * to `sink` with its offset. Resolves with the bytes fetched; rejects with a PeerError.
   */
  async fetch(address: string, map: number, partition: number, sink: (data: Uint8Array, offset: number) => Promise<void>): Promise<number> {
    const peer = await this.peers.get(address);
    let offset = 0;
    for (;;) {
      const { data, done } = await peer.call(mapreduceFetch, "mr.fetch", { map, partition, offset });
      if (data.length > 0) await sink(data, offset);
      offset += data.length;
      if (done) return offset;
      if (data.length === 0) throw new PeerError("BAD_ARGUMENT", `${address} sent an empty chunk of map ${map} before the end`);
    }
  }

  close(): Promise<void> {
    return this.peers.close();
  }
}
