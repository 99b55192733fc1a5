// Start real peer-node processes for tests: on port 0, with the port read back from the listening
// line; kill with any signal, pause (SIGSTOP) and resume (SIGCONT), restart on the same port.
// Every process started here is killed by killAll(), which each test file runs after every test.

import { afterEach } from "bun:test";
import type { Subprocess } from "bun";
import { resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
const ENTRY = resolve(REPO_ROOT, "bin/node.ts");
const LISTENING = /listening on (\[[^\]]+\]|[^\s:]+):(\d+)/;

const live = new Set<NodeProcess>();

export interface StartOptions {
  /** Run this executable instead of `bun bin/node.ts` (the compiled binary). */
  binary?: string;
  /** Run this script with bun instead of the node entry point (test fixtures), path from the repo root. */
  script?: string;
  /** Wait for the listening line (default: true when the args contain --listen or a serving role). */
  waitListening?: boolean;
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export class NodeProcess {
  host = "";
  port = 0;
  private stdoutText = "";
  private stderrText = "";
  readonly exited: Promise<number>;

  private constructor(
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly args: string[],
    private readonly options: StartOptions,
  ) {
    live.add(this);
    this.exited = proc.exited.then((code) => {
      live.delete(this);
      return code;
    });
    void this.pump(proc.stdout, (text) => (this.stdoutText += text));
    void this.pump(proc.stderr, (text) => (this.stderrText += text));
  }

  /** Spawn `./node <args>`; resolves once it printed its listening line (or at once if not waiting). */
  static async start(args: string[], options: StartOptions = {}): Promise<NodeProcess> {
    const cmd = options.binary ? [options.binary, ...args] : [process.execPath, options.script ? resolve(REPO_ROOT, options.script) : ENTRY, ...args];
    const proc = Bun.spawn(cmd, {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
    });
    const node = new NodeProcess(proc, args, options);
    const wait = options.waitListening ?? args.includes("--listen");
    if (wait) await node.waitListening(options.startTimeoutMs ?? 15_000);
    return node;
  }

  get pid(): number {
    return this.proc.pid;
  }
  get address(): string {
    return `${this.host}:${this.port}`;
  }
  get stdout(): string {
    return this.stdoutText;
  }
  get stderr(): string {
    return this.stderrText;
  }
  get isRunning(): boolean {
    return live.has(this);
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    try {
      this.proc.kill(signal);
    } catch {
      /* already gone */
    }
  }
  pause(): void {
    this.kill("SIGSTOP");
  }
  resume(): void {
    this.kill("SIGCONT");
  }

  /** Kill (SIGKILL by default), wait for exit, and start again with the same args on the same port. */
  async restart(signal: NodeJS.Signals = "SIGKILL"): Promise<NodeProcess> {
    this.kill(signal);
    await this.exited;
    const args = [...this.args];
    const at = args.indexOf("--listen");
    if (at >= 0) args[at + 1] = this.address;
    // The old socket may linger for a moment; retry binding briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        return await NodeProcess.start(args, { ...this.options, startTimeoutMs: 5_000 });
      } catch (err) {
        if (attempt >= 20) throw err;
        await Bun.sleep(100);
      }
    }
  }

  /** Start a fixture script (test/fixtures/...) as a tracked process; `waitLine` is awaited on stdout. */
  static async startScript(script: string, args: string[], waitLine?: string): Promise<NodeProcess> {
    const node = await NodeProcess.start(args, { script, waitListening: false });
    if (waitLine !== undefined) await node.waitForOutput(waitLine, 10_000);
    return node;
  }

  /** Lines of stdout that start with `prefix`. */
  outputLines(prefix: string): string[] {
    return this.stdoutText.split("\n").filter((line) => line.startsWith(prefix));
  }

  async waitForOutput(text: string, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stdoutText.includes(text)) {
      if (!this.isRunning || Date.now() > deadline) throw new Error(`"${text}" not seen on stdout of ${this.args.join(" ")}; stderr:\n${this.stderrText.slice(-2000)}`);
      await Bun.sleep(10);
    }
  }

  /** Resolves when `pattern` appears on stderr (the node's log). */
  async waitForLog(pattern: RegExp | string, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = typeof pattern === "string" ? (this.stderrText.includes(pattern) ? pattern : null) : pattern.exec(this.stderrText)?.[0];
      if (match) return match;
      if (Date.now() > deadline) throw new Error(`log line ${pattern} not seen within ${timeoutMs} ms; stderr:\n${this.stderrText.slice(-2000)}`);
      await Bun.sleep(10);
    }
  }

  private async waitListening(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = LISTENING.exec(this.stdoutText);
      if (match) {
        this.host = match[1]!.replace(/^\[|\]$/g, "");
        this.port = Number(match[2]);
        return;
      }
      if (!this.isRunning || Date.now() > deadline) {
        this.kill();
        throw new Error(`node ${this.args.join(" ")} did not print its listening line; stderr:\n${this.stderrText.slice(-2000)}`);
      }
      await Bun.sleep(10);
    }
  }

  private async pump(stream: ReadableStream<Uint8Array>, sink: (text: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }));
  }
}

/** Kill every process still running (SIGCONT first, so a paused one can die), and wait for them. */
export async function killAll(): Promise<void> {
  const all = [...live];
  for (const node of all) {
    node.resume();
    node.kill("SIGKILL");
  }
  await Promise.all(all.map((node) => node.exited));
}

/** Register cleanup for the calling test file. */
export function useProcessCleanup(): void {
  afterEach(killAll);
}

process.on("exit", () => {
  for (const node of live) node.kill("SIGKILL");
});
