// `./node stats --connect host:port`: print the broker's per-queue stats as a table.

import type { QueueStats } from "../../protocols/broker.ts";
import { formatAddress, parseAddress } from "../runtime/address.ts";
import { ExitCode, ExitError, UsageError } from "../runtime/exit.ts";
import type { CommandSpec } from "../runtime/role.ts";
import { BrokerClient } from "./broker_client.ts";

const COLUMNS: Array<[string, (q: QueueStats) => string | number]> = [
  ["queue", (q) => q.queue],
  ["depth", (q) => q.depth],
  ["unacked", (q) => q.unacked],
  ["consumers", (q) => q.consumers],
  ["published", (q) => q.published],
  ["delivered", (q) => q.delivered],
  ["acked", (q) => q.acked],
  ["redelivered", (q) => q.redelivered],
  ["dropped", (q) => q.dropped],
  ["pub/s 1s", (q) => q.rates.published.perSec1s],
  ["pub/s 10s", (q) => q.rates.published.perSec10s.toFixed(1)],
  ["ack/s 1s", (q) => q.rates.acked.perSec1s],
  ["ack/s 10s", (q) => q.rates.acked.perSec10s.toFixed(1)],
];

export const statsCommand: CommandSpec = {
  name: "stats",
  summary: "print a broker's queue stats as a table (stats --connect host:port [--token secret])",
  flags: [
    { name: "connect", type: "string", valueName: "host:port", help: "the broker to ask" },
    { name: "token", type: "string", valueName: "secret", help: "the broker's token, if it has one" },
    { name: "queue", type: "string", valueName: "name", help: "only this queue" },
  ],
  async run(flags, _positionals, { terminal }) {
    const text = flags.string("connect");
    if (text === undefined) throw new UsageError("stats needs --connect host:port");
    const address = formatAddress(parseAddress(text, "--connect"));
    const client = await BrokerClient.connect(address, { role: "stats", heartbeatMs: 0, lostWindowMs: 0, token: flags.string("token") }).catch((err: Error) => {
      throw new ExitError("startup", `cannot reach a broker at ${address}: ${err.message}`);
    });
    try {
      // Page through every queue: a broker with 10,000 queues answers in pages that each fit a frame.
      let stats = await client.stats(flags.string("queue"));
      const queues = [...stats.queues];
      while (stats.next !== undefined) {
        stats = await client.stats(undefined, { after: stats.next });
        queues.push(...stats.queues);
      }
      const rows = [COLUMNS.map(([title]) => title), ...queues.map((q) => COLUMNS.map(([, cell]) => String(cell(q))))];
      const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const row of rows) terminal.line(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd());
      terminal.line(`\n${queues.length} queue(s), ${stats.connections} connection(s), ${stats.consumers} consumer(s), ${stats.channels} channel(s), ${stats.keys} key(s), ${(stats.bytes / 1e6).toFixed(1)} of ${(stats.bytesMax / 1e6).toFixed(0)} MB held`);
      return ExitCode.ok;
    } finally {
      await client.close();
    }
  },
};
