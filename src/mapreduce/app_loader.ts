// A worker's side of AppSpec: built-ins by name; a module's source written once to a temp file
// (named by its hash) and imported. A module that imports other local files will not work this
// way: ship one self-contained file.

import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import type { AppSpec } from "../../protocols/mapreduce.ts";
import { BUILT_IN_APPS, loadApp, type MapReduceApp } from "./app.ts";

const cache = new Map<string, Promise<MapReduceApp>>();

export function appFor(spec: AppSpec): Promise<MapReduceApp> {
  if (spec.name !== "module") return Promise.resolve(BUILT_IN_APPS[spec.name]!);
  const key = Bun.hash(spec.source).toString(16);
  let app = cache.get(key);
  if (app === undefined) {
    const dir = join(tmpdir(), "peer-node-apps");
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${key}${extname(spec.filename) || ".ts"}`);
    writeFileSync(path, spec.source);
    app = loadApp(path);
    cache.set(key, app);
  }
  return app;
}
