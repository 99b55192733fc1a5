// The dispatcher behind `./node`: parse flags, pick the role or command from the tables, run it,
// and turn every failure into one line on stderr and a non-zero exit code.

import pkg from "../../package.json";
import { limits } from "../limits.ts";
import { LOG_LEVELS, type LogLevel } from "../runtime/log.ts";
import { makeNodeConfig } from "../runtime/node_config.ts";
import { StartupError } from "../runtime/serve.ts";
import { BROKER_PORT_DEFAULT, hostBroker } from "../broker/broker_role.ts";
import { parseAddress } from "./address.ts";
import { Flags, parseArgs, type FlagSpec } from "./args.ts";
import type { RoleSpec } from "./role.ts";
import { commands, roles } from "./roles.ts";
import { UsageError } from "./usage_error.ts";

export const VERSION: string = pkg.version;

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

const commonFlags: FlagSpec[] = [
  { name: "role", type: "string", valueName: "name", help: "which node to run (see roles below)" },
  { name: "listen", type: "string", valueName: "host:port", help: "address to listen on (127.0.0.1 by default; port 0 picks a free port)" },
  { name: "connect", type: "string", valueName: "host:port", help: "address of the node to connect to" },
  { name: "id", type: "string", valueName: "name", help: "this node's id (default: <role>-<random>)" },
  { name: "token", type: "string", valueName: "secret", help: "shared secret every hello must carry" },
  { name: "heartbeat-ms", type: "int", valueName: "N", min: limits.heartbeatMsMin, max: limits.heartbeatMsMax, help: `heartbeat interval; a peer silent for ${limits.missedHeartbeatsMax} intervals is dead (default ${limits.heartbeatMs})` },
  { name: "frame-bytes-max", type: "int", valueName: "N", min: 64, max: limits.frameBytesCeiling, help: `largest frame body accepted (default ${limits.frameBytesMax})` },
  { name: "embed-broker", type: "boolean", help: "host the broker in this process on --listen (default 127.0.0.1:4800) and use it" },
  { name: "log-level", type: "string", valueName: "level", help: `one of ${LOG_LEVELS.join(", ")} (default info)` },
  { name: "help", type: "boolean", help: "print this help" },
  { name: "version", type: "boolean", help: "print the version" },
];

export async function main(argv: readonly string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`peer-node: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof StartupError) {
      process.stderr.write(`peer-node: ${err.message}\n`);
      return EXIT_FAILURE;
    }
    process.stderr.write(`peer-node: ${(err as Error)?.message ?? String(err)}\n`);
    return EXIT_FAILURE;
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const roleName = findRoleName(argv);
  const command = roleName === undefined && argv[0] !== undefined && !argv[0].startsWith("--") ? commands.find((c) => c.name === argv[0]) : undefined;
  if (roleName === undefined && argv[0] !== undefined && !argv[0].startsWith("--") && command === undefined) {
    throw new UsageError(`unknown command "${argv[0]}" (commands: ${commands.map((c) => c.name).join(", ") || "none"}; or use --role)`);
  }
  if (command !== undefined) {
    const parsed = parseArgs(argv.slice(1), [...command.flags, helpFlag]);
    if (parsed.flags.has("help")) return printHelp();
    return command.run(new Flags(parsed.flags), parsed.positionals);
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
    return 0;
  }
  if (role === undefined) throw new UsageError("no role given: use --role <name> (see --help)");
  return runRole(role, flags);
}

async function runRole(role: RoleSpec, flags: Flags): Promise<number> {
  const logLevel = (flags.string("log-level") ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level: "${logLevel}" is not one of ${LOG_LEVELS.join(", ")}`);
  const listenText = flags.string("listen");
  const connectText = flags.string("connect");
  const connect = connectText === undefined ? null : parseAddress(connectText, "--connect");
  const embed = flags.bool("embed-broker");
  if (embed && !role.embedsBroker) throw new UsageError(`--role ${role.name} does not take --embed-broker`);
  if (embed && connect !== null) throw new UsageError("--embed-broker and --connect exclude each other: the embedded broker is the one used");
  if (role.needsConnect && connect === null && !embed) {
    throw new UsageError(`--role ${role.name} needs --connect host:port${role.embedsBroker ? " or --embed-broker" : ""}`);
  }
  const listenDefault = embed ? { host: "127.0.0.1", port: BROKER_PORT_DEFAULT } : role.defaultListen;
  const config = makeNodeConfig({
    role: role.name,
    id: flags.string("id"),
    listen: listenText === undefined ? listenDefault : parseAddress(listenText, "--listen"),
    connect,
    token: flags.string("token"),
    heartbeatMs: flags.int("heartbeat-ms", limits.heartbeatMs),
    frameBytesMax: flags.int("frame-bytes-max", limits.frameBytesMax),
    logLevel,
  });
  // Signal handlers go in before anything starts: a script may send SIGTERM as soon as it reads the
  // listening line, which start() prints. A signal during start-up stops the node once it is up.
  let running: { stop(): Promise<void> } | null = null;
  let stopRequested: string | null = null;
  let resolveStopped!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => (resolveStopped = resolve));
  const stopNow = (): void => {
    config.log.info("stopping", { signal: stopRequested });
    void running!.stop().then(() => resolveStopped(0));
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
    config.connect = { host: embedded.server.host, port: embedded.server.port };
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
  return Promise.race([started.done, stopped]);
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
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

function formatFlag(spec: FlagSpec): string {
  const left = `--${spec.name}${spec.valueName ? ` <${spec.valueName}>` : spec.type === "list" ? " <value...>" : ""}`;
  return `  ${left.padEnd(28)} ${spec.help}`;
}
