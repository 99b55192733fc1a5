// The benchmark's worker process: `bun bench/worker.ts <system> <address> <runId> <window>`.
export {};
// Consumes texts, censors them, replies; prints "ready" once consuming.

const [system = "", address = "", runId = "", windowText = "1"] = process.argv.slice(2);
const modules: Record<string, () => Promise<{ runWorker(address: string, runId: string, window: number): Promise<void> }>> = {
  "peer-node": () => import("./systems/peer_node.ts"),
  redis: () => import("./systems/redis.ts"),
  "redis-streams": () => import("./systems/redis_streams.ts"),
  nats: () => import("./systems/nats.ts"),
  rabbitmq: () => import("./systems/rabbitmq.ts"),
};
const load = modules[system];
if (load === undefined) {
  console.error(`unknown system ${system}`);
  process.exit(2);
}
await (await load()).runWorker(address, runId, Number(windowText));
process.stdout.write("ready\n");
