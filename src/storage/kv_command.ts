// `./node kv read|write|update-if|cas|watch|placement|remove-node --connect host:port[,…] …`: the
// storage client on the command line. Values are JSON (`'{"n":1}'`, `42`, `'"text"'`); anything
// that is not JSON is taken as a string. Flags and words may come in any order. A result is one
// JSON line on stdout; a failure is one line on stderr with its error name and whether the op
// certainly did not happen (definite) or may have (indefinite), and exit 1.

import { PeerError } from "../errors.ts";
import { parseAddressList } from "../runtime/address.ts";
import { ExitCode, ExitError, UsageError } from "../runtime/exit.ts";
import type { CommandSpec } from "../runtime/role.ts";
import { StorageClient } from "./storage_client.ts";

const USAGE = "kv read KEY [--version N] | kv write KEY VALUE | kv update-if KEY NEW --expected OLD | kv cas KEY NEW --version N | kv watch KEY | kv placement | kv remove-node ID  (all with --connect host:port[,…])";

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const kvCommand: CommandSpec = {
  name: "kv",
  summary: "read and write the replicated store: kv read|write|update-if|cas|watch|placement --connect host:port …",
  flags: [
    { name: "connect", type: "string", valueName: "host:port[,…]", help: "storage nodes (any of them)" },
    { name: "token", type: "string", valueName: "secret", help: "the cluster's token, if it has one" },
    { name: "version", type: "int", valueName: "N", min: 0, max: Number.MAX_SAFE_INTEGER, help: "read: that version; cas: the version expected" },
    { name: "expected", type: "string", valueName: "JSON", help: "update-if: the value expected" },
  ],
  async run(flags, positionals, { terminal }) {
    const [verb, key, valueText] = positionals;
    const connect = flags.string("connect");
    if (verb === undefined || connect === undefined) throw new UsageError(`usage: ${USAGE}`);
    const needs = (what: string | undefined, name: string): string => {
      if (what === undefined) throw new UsageError(`kv ${verb} needs ${name}; usage: ${USAGE}`);
      return what;
    };
    const client = await StorageClient.connect({ addresses: parseAddressList(connect, "--connect"), token: flags.string("token") }).catch((err: Error) => {
      throw new ExitError("startup", `cannot reach a storage node at ${connect}: ${err.message}`);
    });
    const print = (v: unknown): void => terminal.line(JSON.stringify(v));
    try {
      switch (verb) {
        case "read":
          print(await client.read(needs(key, "KEY"), flags.has("version") ? flags.int("version", 0) : undefined));
          break;
        case "write":
          print({ version: await client.write(needs(key, "KEY"), parseValue(needs(valueText, "VALUE"))) });
          break;
        case "update-if":
          print(await client.updateIfValueIs(needs(key, "KEY"), parseValue(needs(valueText, "NEW")), parseValue(needs(flags.string("expected"), "--expected OLD"))));
          break;
        case "cas":
          if (!flags.has("version")) throw new UsageError(`kv cas needs --version N; usage: ${USAGE}`);
          print(await client.cas(needs(key, "KEY"), parseValue(needs(valueText, "NEW")), flags.int("version", 0)));
          break;
        case "watch":
          await client.watch(needs(key, "KEY"), (version, value) => print({ key, version, value }));
          await new Promise(() => {}); // until interrupted
          break;
        case "placement":
          print(client.currentPlacement);
          break;
        case "remove-node":
          await client.removeNode(needs(key, "ID"));
          print({ removed: key });
          break;
        default:
          throw new UsageError(`kv: unknown verb "${verb}"; usage: ${USAGE}`);
      }
      return ExitCode.ok;
    } catch (err) {
      if (err instanceof PeerError) {
        terminal.log(`${err.name} (${err.definite ? "definite: it did not happen" : "indefinite: it may have happened"}): ${err.message}`);
        return ExitCode.startup;
      }
      throw err;
    } finally {
      await client.close();
    }
  },
};
