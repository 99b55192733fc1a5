// What a role (or a subcommand) provides to the dispatcher. Adding a role means adding a row to
// src/cli/roles.ts; the dispatcher never changes.

import type { NodeConfig } from "../runtime/node_config.ts";
import type { Address } from "./address.ts";
import type { Flags, FlagSpec } from "./args.ts";

export interface RunningRole {
  /** Resolves with the exit code when the role finishes by itself (never, for a server). */
  done: Promise<number>;
  /** Orderly stop on SIGINT/SIGTERM. */
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
  start(config: NodeConfig, flags: Flags): Promise<RunningRole>;
}

/** A subcommand: `./node <name> ...` (e.g. `stats`). */
export interface CommandSpec {
  name: string;
  summary: string;
  flags: FlagSpec[];
  run(flags: Flags, positionals: string[]): Promise<number>;
}
