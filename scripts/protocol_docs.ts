// The op tables of protocols/*.md, generated from the protocol tables (protocols/*.ts), so the
// spec a client author reads is the contract the code checks. `bun scripts/protocol_docs.ts`
// rewrites what stands between `<!-- ops:NAME -->` and `<!-- /ops:NAME -->` in each spec;
// `--check` only compares (test/protocol_docs.test.ts runs it) and exits 1 if any table is stale.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { broker, brokerClient } from "../protocols/broker.ts";
import { core } from "../protocols/core.ts";
import { ErrorCodes } from "../protocols/errors.ts";
import { mapreduce, mapreduceBackup, mapreduceWorker } from "../protocols/mapreduce.ts";
import { storage, storageClient } from "../protocols/storage.ts";
import type { OpSpec, Protocol } from "../protocols/protocol.ts";
import type { ObjectSchema, Schema } from "../protocols/schema.ts";

const PROTOCOLS: Array<{ file: string; protocol: Protocol }> = [
  { file: "README.md", protocol: core },
  { file: "broker.md", protocol: broker },
  { file: "broker.md", protocol: brokerClient },
  { file: "mapreduce.md", protocol: mapreduce },
  { file: "mapreduce.md", protocol: mapreduceWorker },
  { file: "mapreduce.md", protocol: mapreduceBackup },
  { file: "storage.md", protocol: storage },
  { file: "storage.md", protocol: storageClient },
];

/** The fields of a message, one per line in the cell: `name?: type`. */
function fields(schema: Schema<unknown>): string {
  const object = schema as Partial<ObjectSchema<Record<string, Schema<unknown>>>>;
  if (object.fields === undefined) return escape(schema.doc);
  const entries = Object.entries(object.fields);
  if (entries.length === 0) return "{}";
  return entries.map(([name, s]) => `\`${name}${s.optional ? "?" : ""}\`: ${escape(s.doc)}`).join("<br>");
}

function escape(text: string): string {
  return text.replaceAll("|", "\\|");
}

function kind(spec: OpSpec): string {
  if (spec.reply === null) return "one-way";
  return spec.oneWay ? "request or one-way" : "request";
}

export function renderTable(protocol: Protocol): string {
  const lines = [
    `Ops of \`${protocol.name}\` (${protocol.summary}), generated from [\`protocols/*.ts\`](.) by \`npm run docs\`:`,
    "",
    "| op | kind | fields | reply | errors (besides the common ones) | what it does |",
    "|---|---|---|---|---|---|",
  ];
  for (const [name, spec] of Object.entries(protocol.ops)) {
    const reply = spec.reply === null ? "—" : fields(spec.reply);
    lines.push(`| \`${name}\` | ${kind(spec)} | ${fields(spec.request)} | ${reply} | ${spec.errors.join(", ") || "—"} | ${escape(spec.summary)} |`);
  }
  return lines.join("\n");
}

/** The error-code table of README.md, from protocols/errors.ts. */
export function renderErrors(): string {
  const lines = ["| code | name | definite | closes | meaning |", "|---|---|---|---|---|"];
  for (const [name, info] of Object.entries(ErrorCodes)) lines.push(`| ${info.code} | ${name} | ${info.definite ? "yes" : "no"} | ${info.closes ? "yes" : "no"} | ${escape(info.summary)} |`);
  return lines.join("\n");
}

function replaceBetween(text: string, open: string, close: string, body: string, file: string): string {
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start < 0 || end < start) throw new Error(`${file} has no ${open} … ${close} markers`);
  return `${text.slice(0, start + open.length)}\n${body}\n${text.slice(end)}`;
}

/** Each spec file's text with its op tables regenerated. */
export function regenerate(dir: string): Map<string, { before: string; after: string }> {
  const out = new Map<string, { before: string; after: string }>();
  for (const { file, protocol } of PROTOCOLS) {
    const path = join(dir, file);
    const entry = out.get(path) ?? { before: readFileSync(path, "utf8"), after: "" };
    let text = entry.after || entry.before;
    text = replaceBetween(text, `<!-- ops:${protocol.name} -->`, `<!-- /ops:${protocol.name} -->`, renderTable(protocol), file);
    if (file === "README.md") text = replaceBetween(text, "<!-- errors -->", "<!-- /errors -->", renderErrors(), file);
    entry.after = text;
    out.set(path, entry);
  }
  return out;
}

if (import.meta.main) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [path, { before, after }] of regenerate(join(import.meta.dir, "../protocols"))) {
    if (before === after) continue;
    stale++;
    if (check) console.log(`stale: ${path}`);
    else writeFileSync(path, after);
  }
  if (check && stale > 0) {
    console.log("run `npm run docs` to regenerate the op tables");
    process.exit(1);
  }
  console.log(check ? "op tables are current" : `${stale} spec file(s) rewritten`);
}
