// Goal: the op tables in protocols/*.md are the protocol tables the code checks (no drift).
// Method: regenerate them from protocols/*.ts and compare with the committed text.

import { expect, test } from "bun:test";
import { join } from "node:path";
import { regenerate } from "../scripts/protocol_docs.ts";
import { REPO_ROOT } from "./harness/node_process.ts";

test("the specs' op tables are generated from the protocol tables and up to date (npm run docs)", () => {
  const files = regenerate(join(REPO_ROOT, "protocols"));
  expect([...files.keys()].map((p) => p.split("/").at(-1)).sort()).toEqual(["README.md", "broker.md", "mapreduce.md", "storage.md"]);
  for (const [path, { before, after }] of files) expect({ path, text: before }).toEqual({ path, text: after });
});
