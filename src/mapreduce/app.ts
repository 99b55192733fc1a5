// A MapReduce application: map(filename, contents) → [key, value][] and reduce(key, values) →
// string, as in the MIT 6.5840 lab, and optionally combine(key, values) → value, Hadoop's
// combiner: it folds some of a key's values into one wherever they meet (in a map's output, in a
// reducer's memory), so it must be associative and commutative, and reduce must accept its
// results among the values. Built in: wc (which combines) and indexer; anything else is a module.

import { resolve } from "node:path";
import { UsageError } from "../runtime/exit.ts";
import { indexerApp } from "./apps/indexer.ts";
import { wcApp } from "./apps/wc.ts";

export type KeyValue = [key: string, value: string];

export interface MapReduceApp {
  map(filename: string, contents: string): KeyValue[];
  reduce(key: string, values: string[]): string;
  combine?(key: string, values: string[]): string;
}

export const BUILT_IN_APPS: Record<string, MapReduceApp> = { wc: wcApp, indexer: indexerApp };

/** "wc", "indexer", or a path to a .ts/.js module exporting map and reduce. */
export async function loadApp(spec: string): Promise<MapReduceApp> {
  const builtIn = BUILT_IN_APPS[spec];
  if (builtIn !== undefined) return builtIn;
  const path = resolve(spec);
  if (!(await Bun.file(path).exists())) throw new UsageError(`--app: no built-in app "${spec}" and no module at ${path}`);
  let module: Record<string, unknown>;
  try {
    module = (await import(path)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`--app: cannot load ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
  const app = (module.default ?? module) as Partial<MapReduceApp>;
  const missing = (["map", "reduce"] as const).filter((name) => typeof app[name] !== "function");
  if (missing.length > 0) throw new UsageError(`--app: ${path} does not export ${missing.join(" and ")} as a function`);
  if (app.combine !== undefined && typeof app.combine !== "function") throw new UsageError(`--app: ${path} exports combine, but not as a function`);
  return { map: app.map!.bind(app), reduce: app.reduce!.bind(app), ...(app.combine ? { combine: app.combine.bind(app) } : {}) };
}
