// Goal: the code stays layered (limits → protocols → wire → runtime → applications → cli → bin):
// nothing imports upward and no folders import each other in a cycle. Method: scripts/layers.ts
// reads every import of the repository; it must find nothing, and it must find planted violations.

import { expect, test } from "bun:test";
import { importsOf, layerOf, violations } from "../scripts/layers.ts";
import { REPO_ROOT } from "./harness/node_process.ts";

test("the repository's imports respect the layers and form no folder cycle", () => {
  const edges = importsOf(REPO_ROOT);
  expect(edges.length).toBeGreaterThan(100); // the scan really read the code
  expect(violations(edges)).toEqual([]);
});

test("every layer is populated as the README says", () => {
  const layers = new Set(importsOf(REPO_ROOT).map((e) => layerOf(e.from)));
  for (const layer of ["protocols", "wire", "runtime", "applications", "cli", "bin"] as const) expect(layers.has(layer)).toBe(true);
});

test("a planted upward import and a planted folder cycle are both reported", () => {
  const edges = importsOf(REPO_ROOT);
  const upward = { from: "src/runtime/connection.ts", to: "src/cli/main.ts" };
  const found = violations([...edges, upward]);
  expect(found[0]).toBe("src/runtime/connection.ts (runtime) imports src/cli/main.ts (cli): upward");
  expect(found.slice(1)).toEqual([expect.stringMatching(/^folder cycle: .*src\/runtime.*src\/cli/)]); // it closes a loop too
  const cycle = { from: "src/broker/broker.ts", to: "src/mutex/round_state.ts" }; // mutex already imports broker
  expect(violations([...edges, cycle])).toEqual(["folder cycle: src/broker → src/mutex → src/broker"]);
  const wire = { from: "src/wire/codec.ts", to: "src/runtime/log.ts" };
  expect(violations([...edges, wire])[0]).toMatch(/upward/);
});
