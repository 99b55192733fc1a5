// A strict flag parser: every flag is declared with its type; anything else is a UsageError that
// names the problem. Accepts `--flag value` and `--flag=value`; list flags take values up to the
// next flag.

import { UsageError } from "./exit.ts";

export type FlagType = "string" | "int" | "boolean" | "list";

export interface FlagSpec {
  name: string;
  type: FlagType;
  help: string;
  /** Shown in --help, e.g. "host:port". */
  valueName?: string;
  min?: number;
  max?: number;
}

export type FlagValue = string | number | boolean | string[];
export type ParsedFlags = Map<string, FlagValue>;

export interface ParsedArgs {
  flags: ParsedFlags;
  /** Words that are not flags or their values, e.g. `stats` in `./node stats --connect ...`. */
  positionals: string[];
}

/**
 * `positionalsAnywhere`: commands take words after flags too (`./node kv --connect a read k`, as
 * etcdctl and git do); for a role a word after a flag is a mistake (`--listen a b`) and an error.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], options: { positionalsAnywhere?: boolean } = {}): ParsedArgs {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const flags: ParsedFlags = new Map();
  const positionals: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const word = argv[i++]!;
    if (!word.startsWith("--")) {
      if (flags.size > 0 && !options.positionalsAnywhere) throw new UsageError(`unexpected argument "${word}"`);
      positionals.push(word);
      continue;
    }
    const eq = word.indexOf("=");
    const name = word.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (spec === undefined) throw new UsageError(`unknown flag --${name} (see --help)`);
    if (flags.has(name)) throw new UsageError(`--${name} given twice`);
    if (spec.type === "boolean") {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    if (spec.type === "list") {
      const values: string[] = eq >= 0 ? [word.slice(eq + 1)] : [];
      while (i < argv.length && !argv[i]!.startsWith("--")) values.push(argv[i++]!);
      if (values.length === 0) throw new UsageError(`--${name} needs at least one value`);
      flags.set(name, values);
      continue;
    }
    let value: string;
    if (eq >= 0) value = word.slice(eq + 1);
    else {
      if (i >= argv.length || argv[i]!.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      value = argv[i++]!;
    }
    flags.set(name, spec.type === "int" ? parseIntFlag(spec, value) : value);
  }
  return { flags, positionals };
}

function parseIntFlag(spec: FlagSpec, text: string): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${spec.name}: "${text}" is not an integer`);
  const value = Number(text);
  if (spec.min !== undefined && value < spec.min) throw new UsageError(`--${spec.name}: ${value} is below the minimum ${spec.min}`);
  if (spec.max !== undefined && value > spec.max) throw new UsageError(`--${spec.name}: ${value} is above the maximum ${spec.max}`);
  return value;
}

/** Typed accessors with defaults. */
export class Flags {
  constructor(private readonly flags: ParsedFlags) {}
  has(name: string): boolean {
    return this.flags.has(name);
  }
  string(name: string): string | undefined {
    return this.flags.get(name) as string | undefined;
  }
  int(name: string, fallback: number): number {
    return (this.flags.get(name) as number | undefined) ?? fallback;
  }
  bool(name: string): boolean {
    return this.flags.get(name) === true;
  }
  list(name: string): string[] {
    return (this.flags.get(name) as string[] | undefined) ?? [];
  }
}
