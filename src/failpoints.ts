// Failpoints: named places where a test can make a process fail on purpose, at an exact step that
// no signal sent from outside could hit reliably (e.g. "after being granted, before appending").
// Set PEER_NODE_FAILPOINTS="name" or "name=value", comma-separated. Unset in normal runs.

const spec = process.env.PEER_NODE_FAILPOINTS ?? "";
const points = new Map<string, string>(
  spec
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p) => {
      const eq = p.indexOf("=");
      return eq < 0 ? [p, ""] : [p.slice(0, eq), p.slice(eq + 1)];
    }),
);

/** The failpoint's value ("" when set without one), or undefined when it is not set. */
export function failpoint(name: string): string | undefined {
  return points.get(name);
}

/** Die as abruptly as `kill -9` would make us. */
export function crashNow(): never {
  process.kill(process.pid, "SIGKILL");
  throw new Error("unreachable");
}

/** Stop as SIGSTOP would: alive to the kernel, silent to its peers, until SIGCONT. */
export function hangNow(): void {
  process.kill(process.pid, "SIGSTOP");
}
