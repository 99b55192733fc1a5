// Real peer-node processes for tests: the launcher from src/ (src/launcher/local_process.ts), run
// as `bun bin/node.ts …` from the repo (or the compiled binary, or a fixture script).

import { resolve } from "node:path";
import { killAll, LocalProcess, type LaunchOptions } from "../../src/launcher/local_process.ts";

export { killAll };
export const REPO_ROOT = resolve(import.meta.dir, "../..");
const ENTRY = resolve(REPO_ROOT, "bin/node.ts");

export interface StartOptions extends LaunchOptions {
  /** Run this executable instead of `bun bin/node.ts` (the compiled binary). */
  binary?: string;
  /** Run this script with bun instead (a test fixture), path from the repo root. */
  script?: string;
}

export type NodeProcess = LocalProcess;

export const NodeProcess = {
  start(args: string[], options: StartOptions = {}): Promise<LocalProcess> {
    const command = options.binary ? [options.binary] : [process.execPath, options.script ? resolve(REPO_ROOT, options.script) : ENTRY];
    return LocalProcess.start(args, { cwd: REPO_ROOT, ...options, command });
  },

  /** Start a fixture script (test/fixtures/...) as a tracked process; `waitLine` is awaited on stdout. */
  async startScript(script: string, args: string[], waitLine?: string): Promise<LocalProcess> {
    const child = await NodeProcess.start(args, { script, waitListening: false });
    if (waitLine !== undefined) await child.waitForOutput(waitLine, 10_000);
    return child;
  },
};
