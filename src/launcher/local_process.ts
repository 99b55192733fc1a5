// Start peer-node processes on this machine and control them: read the listening port back, kill
// with any signal, pause (SIGSTOP) and resume, restart on the same port, collect stdout. Used by
// `./node run …`, by the tests, and by scenarios that start and stop workers (the autoscaler).
// Every process started here is tracked, so killAll() can clean up whatever happens.

import type { Subprocess } from "bun";
import { limits } from "../limits.ts";

const LISTENING = /listening on (\[[^\]]+\]|[^\s:]+):(\d+)/;
const live = new Set<LocalProcess>();

/** How to run this same program again: the compiled binary itself, or bun plus the entry script. */
export function selfCommand(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(Bun.main);
  return compiled ? [process.execPath] : [process.execPath, Bun.main];
}

export interface LaunchOptions {
  /** The command before the args; default: this program (selfCommand()). */
  command?: string[];
  /** Wait for the "listening on" line (default: when the args contain --listen). */
  waitListening?: boolean;
  env?: Record<string, string>;
  cwd?: string;
  startTimeoutMs?: number;
  /** Called with each chunk of stdout text as it arrives. */
  onStdout?: (text: string) => void;
}

const signalNumbers: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGABRT: 6, SIGSEGV: 11 };

export class LocalProcess {
  host = "";
  port = 0;
  private stdoutText = "";
  private stderrText = "";
  readonly exited: Promise<number>;

  private constructor(
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly args: string[],
    private readonly options: LaunchOptions,
  ) {
    live.add(this);
    this.exited = proc.exited.then((code) => {
      live.delete(this);
      return code;
    });
    void pump(proc.stdout, (text) => {
      this.stdoutText = keepTail(this.stdoutText + text);
      options.onStdout?.(text);
    });
    void pump(proc.stderr, (text) => (this.stderrText = keepTail(this.stderrText + text)));
  }

  static async start(args: string[], options: LaunchOptions = {}): Promise<LocalProcess> {
    const proc = Bun.spawn([...(options.command ?? selfCommand()), ...args], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
    });
    const child = new LocalProcess(proc, args, options);
    if (options.waitListening ?? args.includes("--listen")) await child.waitListening(options.startTimeoutMs ?? limits.processStartTimeoutMs);
    return child;
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
  /** The exit code once exited (a signal's death is 128 + its number), null while running. */
  get exitCode(): number | null {
    return this.proc.exitCode ?? (this.proc.signalCode !== null ? 128 + (signalNumbers[this.proc.signalCode] ?? 0) : null);
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

  /** Kill, wait for the exit, and start again with the same args on the same port. */
  async restart(signal: NodeJS.Signals = "SIGKILL"): Promise<LocalProcess> {
    this.kill(signal);
    await this.exited;
    const args = [...this.args];
    const at = args.indexOf("--listen");
    if (at >= 0) args[at + 1] = this.address;
    for (let attempt = 0; ; attempt++) {
      try {
        return await LocalProcess.start(args, { ...this.options, startTimeoutMs: 5_000 });
      } catch (err) {
        if (attempt >= limits.processRestartTriesMax) throw err; // the old socket may linger for a moment
        await Bun.sleep(100);
      }
    }
  }

  /** Lines of stdout that start with `prefix`. */
  outputLines(prefix: string): string[] {
    return this.stdoutText.split("\n").filter((line) => line.startsWith(prefix));
  }

  /** The last non-empty stdout line parsed as JSON, or null. */
  lastJsonLine<T>(): T | null {
    const line = this.stdoutText.trim().split("\n").at(-1);
    try {
      return line ? (JSON.parse(line) as T) : null;
    } catch {
      return null;
    }
  }

  async waitForOutput(text: string, timeoutMs = 5_000): Promise<void> {
    await this.waitUntil(() => this.stdoutText.includes(text), `"${text}" on stdout`, timeoutMs);
  }

  /** Resolves when `pattern` appears on stderr (the node's log). */
  async waitForLog(pattern: RegExp | string, timeoutMs = 5_000): Promise<string> {
    let found = "";
    await this.waitUntil(() => {
      found = (typeof pattern === "string" ? (this.stderrText.includes(pattern) ? pattern : "") : pattern.exec(this.stderrText)?.[0]) ?? "";
      return found !== "";
    }, `log line ${pattern}`, timeoutMs, true);
    return found;
  }

  private async waitListening(timeoutMs: number): Promise<void> {
    await this.waitUntil(() => LISTENING.test(this.stdoutText), "its listening line", timeoutMs).catch((err) => {
      this.kill();
      throw err;
    });
    const match = LISTENING.exec(this.stdoutText)!;
    this.host = match[1]!.replace(/^\[|\]$/g, "");
    this.port = Number(match[2]);
  }

  private async waitUntil(ok: () => boolean, what: string, timeoutMs: number, evenIfExited = false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if ((!evenIfExited && !this.isRunning) || Date.now() > deadline) {
        throw new Error(`${what} not seen from ${this.args.join(" ") || "process"} within ${timeoutMs} ms; stderr:\n${this.stderrText.slice(-2000)}`);
      }
      await Bun.sleep(10);
    }
  }
}

/** A port free on loopback right now (the OS picks it and we release it, for a process to bind). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Kill every tracked process (SIGCONT first, so a paused one can die) and wait for them. */
export async function killAll(): Promise<void> {
  const all = [...live];
  for (const child of all) {
    child.resume();
    child.kill("SIGKILL");
  }
  await Promise.all(all.map((child) => child.exited));
}

process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** The newest processOutputCharsMax characters of a stream's text (cut at a line start when one is near). */
function keepTail(text: string): string {
  if (text.length <= limits.processOutputCharsMax) return text;
  const cut = text.length - limits.processOutputCharsMax;
  const lineStart = text.indexOf("\n", cut);
  return text.slice(lineStart >= 0 && lineStart - cut < 1024 ? lineStart + 1 : cut);
}

async function pump(stream: ReadableStream<Uint8Array>, sink: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }));
}
