// The contract between a role (or a subcommand) and the dispatcher. Roles live in their
// application's folder (src/broker/broker_role.ts, src/mapreduce/worker_role.ts, …); the CLI's
// table (src/cli/roles.ts) lists them, and the dispatcher never changes for a new one.

import type { Address } from "./address.ts";
import { ExitCode, type ExitName } from "./exit.ts";
import type { Flags, FlagSpec } from "./flags.ts";
import type { NodeConfig } from "./node_config.ts";

/** How a role ended: the exit code, and the one line the CLI prints on stderr (if any). */
export interface RoleOutcome {
  code: number;
  message?: string;
}

export interface RunningRole {
  /** Resolves when the role ends by itself (never, for a server). */
  done: Promise<RoleOutcome>;
  /** Orderly stop on SIGINT/SIGTERM; `done` need not resolve after it. */
  stop(): Promise<void>;
}

export interface RoleSpec {
  name: string;
  summary: string;
  /** Flags beyond the common ones. */
  flags: FlagSpec[];
  /** Listen address when --listen is not given; null: the role does not listen unless asked. */
  defaultListen: Address | null;
  /** Whether --connect is required (--embed-broker satisfies it for roles that embed a broker). */
  needsConnect: boolean;
  /** Whether the role accepts --embed-broker: host the broker in this process and connect to it. */
  embedsBroker?: boolean;
  /** The frame limit when --frame-bytes-max is not given (default limits.frameBytesMax). */
  frameBytesMax?: number;
  start(config: NodeConfig, flags: Flags): Promise<RunningRole>;
}

/** A subcommand: `./node <name> ...` (e.g. `stats`). Returns the exit code. */
export interface CommandSpec {
  name: string;
  summary: string;
  flags: FlagSpec[];
  run(flags: Flags, positionals: string[], config: NodeConfig): Promise<number>;
}

/**
 * The life of a running role: `end` settles `done` once; later ends are ignored. `stopping` marks
 * our own orderly stop, after which the losses it causes (closed connections) are not failures.
 */
export class RoleLife {
  readonly done: Promise<RoleOutcome>;
  stopping = false;
  private settle!: (outcome: RoleOutcome) => void;
  private over = false;

  constructor() {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  get ended(): boolean {
    return this.over || this.stopping;
  }

  end(exit: ExitName | number, message?: string): void {
    if (this.over) return;
    this.over = true;
    this.settle({ code: typeof exit === "number" ? exit : ExitCode[exit], message });
  }
}
