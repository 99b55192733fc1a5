// A MapReduce application: map(filename, contents) → [key, value][] and reduce(key, values) →
// string, as in the MIT 6.5840 lab. Built in: wc and indexer; anything else is a module path.

import { resolve } from "node:path";
import { indexerApp } from "./apps/indexer.ts";
import { wcApp } from "./apps/wc.ts";

export type KeyValue = [key: string, value: string];

export interface MapReduceApp {
  map(filename: string, contents: string): KeyValue[];
  reduce(key: string, values: string[]): string;
}

export const BUILT_IN_APPS: Record<string, MapReduceApp> = { wc: wcApp, indexer: indexerApp };

/** A module that is not a usable app: a one-line message for the CLI. */
export class AppError extends Error {
  override readonly name = "AppError";
}

/** "wc", "indexer", or a path to a .ts/.js module exporting map and reduce. */
export async function loadApp(spec: string): Promise<MapReduceApp> {
  const builtIn = BUILT_IN_APPS[spec];
  if (builtIn !== undefined) return builtIn;
  const path = resolve(spec);
  if (!(await Bun.file(path).exists())) throw new AppError(`--app: no built-in app "${spec}" and no module at ${path}`);
  let module: Record<string, unknown>;
  try {
    module = (await import(path)) as Record<string, unknown>;
  } catch (err) {
    throw new AppError(`--app: cannot load ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
  const app = (module.default ?? module) as Partial<MapReduceApp>;
  const missing = (["map", "reduce"] as const).filter((name) => typeof app[name] !== "function");
  if (missing.length > 0) throw new AppError(`--app: ${path} does not export ${missing.join(" and ")} as a function`);
  return { map: app.map!.bind(app), reduce: app.reduce!.bind(app) };
}
