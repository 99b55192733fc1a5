// One line per event on stderr: `<time> <LEVEL> <node> <event> key=value ...`. stdout is kept for
// the lines scripts read (the listening line, results).

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];
const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export type LogFields = Record<string, unknown>;

export class Logger {
  constructor(
    private readonly node: string,
    private readonly level: LogLevel = "info",
    private readonly write: (line: string) => void = (line) => process.stderr.write(line + "\n"),
  ) {}

  child(node: string): Logger {
    return new Logger(node, this.level, this.write);
  }

  enabled(level: LogLevel): boolean {
    return rank[level] >= rank[this.level];
  }

  debug(event: string, fields?: LogFields): void {
    if (this.enabled("debug")) this.emit("DEBUG", event, fields);
  }
  info(event: string, fields?: LogFields): void {
    if (this.enabled("info")) this.emit("INFO", event, fields);
  }
  warn(event: string, fields?: LogFields): void {
    if (this.enabled("warn")) this.emit("WARN", event, fields);
  }
  error(event: string, fields?: LogFields): void {
    if (this.enabled("error")) this.emit("ERROR", event, fields);
  }

  private emit(tag: string, event: string, fields?: LogFields): void {
    let line = `${new Date().toISOString()} ${tag} ${this.node} ${event}`;
    if (fields) for (const [key, value] of Object.entries(fields)) line += ` ${key}=${formatValue(value)}`;
    this.write(line);
  }
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return /^[\w.:\-/@]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

export const silentLogger = new Logger("-", "silent");
