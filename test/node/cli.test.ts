// Goal: command-line mistakes give one line naming the problem and a non-zero exit; --help and
// --version work; the listening line is printed; SIGTERM stops the node cleanly. Method: run the
// real entry point as a process.

import { afterEach, expect, test } from "bun:test";
import { NodeProcess, killAll } from "../harness/node_process.ts";

afterEach(killAll);

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const node = await NodeProcess.start(args, { waitListening: false });
  const code = await node.exited;
  await Bun.sleep(20);
  return { code, stdout: node.stdout, stderr: node.stderr };
}

function oneLine(text: string): string {
  const lines = text.trim().split("\n");
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

test.each([
  [["--role", "nope"], /unknown role "nope"/],
  [["--role", "broker", "--bogus"], /unknown flag --bogus/],
  [["--role", "broker", "--listen", "localhost"], /--listen: malformed address "localhost"/],
  [["--role", "broker", "--listen", "127.0.0.1:70000"], /port 70000 is out of range/],
  [["--role", "broker", "--heartbeat-ms", "abc"], /--heartbeat-ms: "abc" is not an integer/],
  [["--role", "broker", "--heartbeat-ms", "1"], /below the minimum/],
  [["--role", "broker", "--log-level", "loud"], /--log-level: "loud"/],
  [["--role"], /--role needs a value/],
  [[], /no role given/],
  [["frobnicate"], /unknown command "frobnicate"/],
  [["--role", "broker", "--listen", "0.0.0.0:0"], /--listen 0\.0\.0\.0:0 without --token lets anyone who can reach this machine in: give --token SECRET, or --allow-public/],
  [["--role", "broker", "--listen", "[::]:0"], /--listen \[::\]:0 without --token/],
])("%p → one-line error, exit 2", async (args, pattern) => {
  const { code, stderr } = await run(args as string[]);
  expect(code).toBe(2);
  expect(oneLine(stderr)).toMatch(pattern as RegExp);
});

test("beyond loopback, --token or --allow-public passes the check (an address this machine lacks then fails to bind, exit 1; nothing is exposed)", async () => {
  // 192.0.2.1 is TEST-NET-1: never this machine's, so the bind fails after the check.
  const withToken = await run(["--role", "broker", "--listen", "192.0.2.1:4999", "--token", "s"]);
  expect(withToken.code).toBe(1);
  expect(oneLine(withToken.stderr)).toMatch(/cannot listen on 192\.0\.2\.1:4999: address not available/);
  const allowed = await run(["--role", "broker", "--listen", "192.0.2.1:4999", "--allow-public"]);
  expect(allowed.code).toBe(1);
  expect(allowed.stderr).toMatch(/WARN \S+ public-without-token listen=192\.0\.2\.1:4999/);
  expect(allowed.stderr).toMatch(/cannot listen on 192\.0\.2\.1:4999: address not available/);
});

test("a port already in use → one-line error, exit 1", async () => {
  const first = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0"]);
  const { code, stderr } = await run(["--role", "broker", "--listen", first.address]);
  expect(code).toBe(1);
  expect(oneLine(stderr)).toMatch(/cannot listen on 127\.0\.0\.1:\d+: address already in use/);
});

test("--help lists every role and flag; --version prints the version", async () => {
  const help = await run(["--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/broker\s+embedded message broker/);
  expect(help.stdout).toMatch(/--heartbeat-ms/);
  const version = await run(["--version"]);
  expect(version.code).toBe(0);
  expect(version.stdout.trim()).toMatch(/^peer-node \d+\.\d+\.\d+$/);
});

test("the listening line names the real port; SIGTERM exits 0", async () => {
  const node = await NodeProcess.start(["--role", "broker", "--listen", "127.0.0.1:0", "--id", "b7"]);
  expect(node.stdout).toMatch(new RegExp(`^peer-node broker b7 listening on 127\\.0\\.0\\.1:${node.port}\\n`));
  expect(node.port).toBeGreaterThan(0);
  node.kill("SIGTERM");
  expect(await node.exited).toBe(0);
  expect(node.stderr).toMatch(/stopping signal=SIGTERM/);
});

test("SIGTERM right after the listening line (before start-up finished) still stops cleanly with 0", async () => {
  for (let i = 0; i < 5; i++) {
    const node = await NodeProcess.start(["--role", "leader", "--slaves", "3", "--embed-broker", "--listen", "127.0.0.1:0"]);
    node.kill("SIGTERM"); // the leader is still joining its own broker when this lands
    expect(await node.exited).toBe(0);
  }
});
