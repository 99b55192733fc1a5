// Ask a coordinator (or a backup that took over) where its job stands: one short connection per
// question, so a caller watching a job through a takeover needs no client state of its own.

import { mapreduce, type JobStatus } from "../../protocols/mapreduce.ts";
import { Upstream } from "../runtime/upstream.ts";

/** The job's status, or null if nobody at `address` answers as a coordinator. */
export async function queryJobStatus(address: string, timeoutMs = 1_000): Promise<JobStatus | null> {
  const upstream = new Upstream({
    addresses: [address],
    serves: "mapreduce",
    what: "coordinator",
    pendingRoles: ["backup"],
    identity: { node: `observer-${process.pid}`, role: "observer" },
    heartbeatMs: 0,
    firstConnectWindowMs: 0, // one try
    lostWindowMs: 0,
  });
  try {
    await upstream.connect();
    return await upstream.call(mapreduce, "mr.status", {}, timeoutMs);
  } catch {
    return null;
  } finally {
    await upstream.close().catch(() => {});
  }
}
