// Goal: `npm start`'s job works: the demo kills a worker and the coordinator partway through,
// finishes on the backup and reports IDENTICAL output. Method: run `./node run mapreduce` as a
// real process on a small corpus and read its verdict and exit code.

import { afterAll, expect, test } from "bun:test";
import { NodeProcess, killAll } from "../harness/node_process.ts";

afterAll(killAll);

test("run mapreduce: worker and coordinator killed, backup finishes, output identical to the sequential run", async () => {
  const demo = await NodeProcess.start(["run", "mapreduce", "--size-mb", "2"], { waitListening: false });
  expect(await demo.exited).toBe(0);
  expect(demo.stdout).toMatch(/killed worker w1 \(SIGKILL\) at maps \d+\/\d+/);
  expect(demo.stdout).toMatch(/killed the coordinator \(SIGKILL\) at maps \d+\/\d+: the backup takes over/);
  expect(demo.stdout).toMatch(/finished on the backup: .* 1 takeover\(s\)/);
  expect(demo.stdout).toMatch(/VERDICT: IDENTICAL to the sequential run \([\d,]+ keys\)/);
}, 60_000);
