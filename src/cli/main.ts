// The dispatcher behind `./node`: parse flags, pick the role or command from the tables, run it,
// and turn every ending into an exit code (named in src/runtime/exit.ts) with at most one line on
// stderr.

import pkg from "../../package.json";
import { hostBroker } from "../broker/broker_role.ts";
import { PeerError } from "../errors.ts";
import { limits } from "../limits.ts";
import { formatAddress, isLoopback, parseAddress, parseAddressList } from "../runtime/address.ts";
import { ExitCode, ExitError, UsageError } from "../runtime/exit.ts";
import { Flags, parseArgs, type FlagSpec } from "../runtime/flags.ts";
import { LOG_LEVELS, type LogLevel } from "../runtime/log.ts";
import { makeNodeConfig } from "../runtime/node_config.ts";
import type { RoleOutcome, RoleSpec } from "../runtime/role.ts";
import { commands, roles } from "./roles.ts";

export const VERSION: string = pkg.version;

const commonFlags: FlagSpec[] = [
  { name: "role", type: "string", valueName: "name", help: "which node to run (see roles below)" },
  { name: "listen", type: "string", valueName: "host:port", help: "address to listen on (127.0.0.1 by default; port 0 picks a free port)" },
  { name: "connect", type: "string", valueName: "host:port[,…]", help: "the node this role depends on; several, comma-separated, are tried in order (failover)" },
  { name: "id", type: "string", valueName: "name", help: "this node's id (default: <role>-<random>)" },
  { name: "token", type: "string", valueName: "secret", help: "shared secret every hello must carry" },
  { name: "heartbeat-ms", type: "int", valueName: "N", min: limits.heartbeatMsMin, max: limits.heartbeatMsMax, help: `heartbeat interval; a peer silent for ${limits.missedHeartbeatsMax} intervals is dead (default ${limits.heartbeatMs})` },
  { name: "frame-bytes-max", type: "int", valueName: "N", min: limits.frameBytesFloor, max: limits.frameBytesCeiling, help: `largest frame body accepted (default ${limits.frameBytesMax}; MapReduce roles ${limits.mapreduceFrameBytesMax})` },
  { name: "allow-public", type: "boolean", help: "listen beyond loopback without --token (anyone who can reach the port gets in)" },
  { name: "embed-broker", type: "boolean", help: `host the broker in this process on --listen (default 127.0.0.1:${limits.brokerPortDefault}) and use it` },
  { name: "log-level", type: "string", valueName: "level", help: `one of ${LOG_LEVELS.join(", ")} (default info)` },
  { name: "help", type: "boolean", help: "print this help (also -h)" },
  { name: "version", type: "boolean", help: "print the version" },
];

export async function main(argv: readonly string[]): Promise<number> {
  try {
    return await dispatch(argv.map((word) => (word === "-h" ? "--help" : word)));
  } catch (err) {
    if (err instanceof ExitError) {
      process.stderr.write(`peer-node: ${err.message}\n`);
      return err.code;
    }
    if (err instanceof PeerError) {
      process.stderr.write(`peer-node: ${err.message}\n`);
      return ExitCode.startup;
    }
    process.stderr.write(`peer-node: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.startup;
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const roleName = findRoleName(argv);
  const first = argv[0];
  const command = roleName === undefined && first !== undefined && !first.startsWith("--") ? commands.find((c) => c.name === first) : undefined;
  if (roleName === undefined && first !== undefined && !first.startsWith("--") && command === undefined) {
    throw new UsageError(`unknown command "${first}" (commands: ${commands.map((c) => c.name).join(", ")}; or use --role)`);
  }
  if (command !== undefined) {
    const parsed = parseArgs(argv.slice(1), [...command.flags, helpFlag, logLevelFlag], { positionalsAnywhere: true });
    const flags = new Flags(parsed.flags);
    if (flags.bool("help")) return printHelp();
    const config = makeNodeConfig({ role: command.name, logLevel: readLogLevel(flags, "warn") });
    return command.run(flags, parsed.positionals, config);
  }
  const role = roleName === undefined ? undefined : roles.find((r) => r.name === roleName);
  if (roleName !== undefined && role === undefined) {
    throw new UsageError(`unknown role "${roleName}" (roles: ${roles.map((r) => r.name).join(", ")})`);
  }
  const parsed = parseArgs(argv, [...commonFlags, ...(role?.flags ?? [])]);
  const flags = new Flags(parsed.flags);
  if (flags.bool("help")) return printHelp();
  if (flags.bool("version")) {
    process.stdout.write(`peer-node ${VERSION}\n`);
    return ExitCode.ok;
  }
  if (role === undefined) throw new UsageError("no role given: use --role <name> (see --help)");
  return runRole(role, flags);
}

function readLogLevel(flags: Flags, fallback: LogLevel): LogLevel {
  const level = (flags.string("log-level") ?? fallback) as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level: "${level}" is not one of ${LOG_LEVELS.join(", ")}`);
  return level;
}

async function runRole(role: RoleSpec, flags: Flags): Promise<number> {
  const logLevel = readLogLevel(flags, "info");
  const listenText = flags.string("listen");
  const connectText = flags.string("connect");
  const connect = connectText === undefined ? [] : parseAddressList(connectText, "--connect");
  const embed = flags.bool("embed-broker");
  if (embed && !role.embedsBroker) throw new UsageError(`--role ${role.name} does not take --embed-broker`);
  if (embed && connect.length > 0) throw new UsageError("--embed-broker and --connect exclude each other: the embedded broker is the one used");
  if (role.needsConnect && connect.length === 0 && !embed) {
    throw new UsageError(`--role ${role.name} needs --connect host:port${role.embedsBroker ? " or --embed-broker" : ""}`);
  }
  const listenDefault = embed ? { host: "127.0.0.1", port: limits.brokerPortDefault } : role.defaultListen;
  const listen = listenText === undefined ? listenDefault : parseAddress(listenText, "--listen");
  const token = flags.string("token");
  if (listen !== null && !isLoopback(listen.host) && token === undefined && !flags.bool("allow-public")) {
    throw new UsageError(`--listen ${formatAddress(listen)} without --token lets anyone who can reach this machine in: give --token SECRET, or --allow-public to accept that`);
  }
  const config = makeNodeConfig({
    role: role.name,
    id: flags.string("id"),
    listen,
    connect,
    token,
    heartbeatMs: flags.int("heartbeat-ms", limits.heartbeatMs),
    frameBytesMax: flags.int("frame-bytes-max", role.frameBytesMax ?? limits.frameBytesMax),
    logLevel,
  });
  if (listen !== null && !isLoopback(listen.host) && token === undefined) config.log.warn("public-without-token", { listen: formatAddress(listen) });
  // Signal handlers go in before anything starts: a script may send SIGTERM as soon as it reads the
  // listening line, which start() prints. A signal during start-up stops the node once it is up.
  let running: { stop(): Promise<void> } | null = null;
  let stopRequested: string | null = null;
  let resolveStopped!: (outcome: RoleOutcome) => void;
  const stopped = new Promise<RoleOutcome>((resolve) => (resolveStopped = resolve));
  const stopNow = (): void => {
    config.log.info("stopping", { signal: stopRequested });
    void running!.stop().then(() => resolveStopped({ code: ExitCode.ok }));
  };
  const onSignal = (signal: string): void => {
    if (stopRequested !== null) return;
    stopRequested = signal;
    if (running !== null) stopNow();
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));

  // The embedded broker is the same broker a `--role broker` node runs; the role reaches it over
  // loopback like any other client, so nothing differs between the two set-ups.
  const embedded = embed ? hostBroker(config) : null;
  if (embedded !== null) {
    config.connect = [formatAddress({ host: embedded.server.host, port: embedded.server.port })];
    config.brokerInProcess = true;
  }
  const started = await role.start(config, flags);
  running = embedded === null ? started : {
    stop: async () => {
      await started.stop();
      embedded.broker.stop();
      await embedded.server.stop();
    },
  };
  if (stopRequested !== null) stopNow();
  const outcome = await Promise.race([started.done, stopped]);
  if (outcome.message !== undefined) process.stderr.write(`peer-node: ${outcome.message}\n`);
  return outcome.code;
}

/** The value of --role, looked up before full parsing because it decides which flags exist. */
function findRoleName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === "--role") {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new UsageError("--role needs a value");
      return value;
    }
    if (word.startsWith("--role=")) return word.slice("--role=".length);
  }
  return undefined;
}

const helpFlag: FlagSpec = { name: "help", type: "boolean", help: "print help" };
const logLevelFlag: FlagSpec = { name: "log-level", type: "string", valueName: "level", help: `one of ${LOG_LEVELS.join(", ")} (default warn)` };

function printHelp(): number {
  const lines = [
    `peer-node ${VERSION}: one binary, every node of the classic distributed-systems designs`,
    "",
    "usage: node --role <role> [flags]",
    "       node <command> [flags]",
    "",
    "roles:",
    ...roles.map((r) => `  ${r.name.padEnd(12)} ${r.summary}`),
  ];
  if (commands.length > 0) lines.push("", "commands:", ...commands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`));
  lines.push("", "common flags:", ...commonFlags.map(formatFlag));
  for (const role of roles) {
    if (role.flags.length > 0) lines.push("", `--role ${role.name} flags:`, ...role.flags.map(formatFlag));
  }
  for (const command of commands) {
    if (command.flags.length > 0) lines.push("", `${command.name} flags:`, ...command.flags.map(formatFlag));
  }
  lines.push("", `exit codes: ${Object.entries(ExitCode).map(([name, code]) => `${code} ${name}`).join(", ")}`);
  process.stdout.write(lines.join("\n") + "\n");
  return ExitCode.ok;
}

function formatFlag(spec: FlagSpec): string {
  const left = `--${spec.name}${spec.valueName ? ` <${spec.valueName}>` : spec.type === "list" ? " <value...>" : ""}`;
  return `  ${left.padEnd(28)} ${spec.help}`;
}
