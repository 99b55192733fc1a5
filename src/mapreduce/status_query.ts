// Ask a coordinator (or a backup that took over) where its job stands: one short connection per
// question, so a caller watching a job through a takeover needs no client state of its own.

import type { JobStatus } from "../../protocols/mapreduce.ts";
import { PeerClient } from "../runtime/peer_client.ts";

/** The job's status, or null if nobody at `address` answers as a coordinator. */
export async function queryJobStatus(address: string, timeoutMs = 1_000): Promise<JobStatus | null> {
  const client = PeerClient.forAddress(address, { identity: { node: `observer-${process.pid}`, role: "observer" }, heartbeatMs: 0, reconnect: false });
  try {
    await client.connect();
    return await client.request<JobStatus>({ op: "mr.status" }, timeoutMs);
  } catch {
    return null;
  } finally {
    await client.close().catch(() => {});
  }
}
