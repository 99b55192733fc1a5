// The layering of peer-node, checked: limits → protocols → wire → runtime → applications → cli →
// bin. A file may import its own layer or lower ones, never a higher one; and no two folders may
// import each other, directly or around a cycle. Tests, benchmarks and scripts may import anything.
// `bun scripts/layers.ts` prints every violation (exit 1 if any); test/layering.test.ts runs it.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

export const LAYERS = ["limits", "protocols", "wire", "runtime", "applications", "cli", "bin"] as const;
export type Layer = (typeof LAYERS)[number];

/** The layer of a repository path, or null for code outside the layering (tests, benches, scripts). */
export function layerOf(path: string): Layer | null {
  if (path === "src/limits.ts") return "limits";
  if (path.startsWith("protocols/")) return "protocols";
  if (path.startsWith("src/wire/") || ["src/errors.ts", "src/failpoints.ts", "src/seeded_random.ts", "src/fnv.ts"].includes(path)) return "wire";
  if (path.startsWith("src/runtime/") || path.startsWith("src/launcher/")) return "runtime";
  if (path.startsWith("src/cli/")) return "cli";
  if (path.startsWith("src/")) return "applications"; // src/broker, src/mapreduce, src/mutex, and the ones to come
  if (path.startsWith("bin/")) return "bin";
  return null;
}

/** The folder a file belongs to for the cycle rule: src/<folder>, protocols, bin (src/*.ts files: their own). */
export function folderOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "src") return parts.length > 2 ? `src/${parts[1]}` : path;
  return parts[0]!;
}

export interface Edge {
  from: string;
  to: string;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s+["']([^"']+)["']/g;

/** Every relative import of a TypeScript file in the layered folders, as repository paths. */
export function importsOf(root: string): Edge[] {
  const edges: Edge[] = [];
  for (const top of ["src", "protocols", "bin"]) {
    for (const file of walk(join(root, top))) {
      const from = relative(root, file);
      const text = readFileSync(file, "utf8");
      for (const match of text.matchAll(IMPORT)) {
        const spec = match[1] ?? match[2] ?? match[3]!;
        if (!spec.startsWith(".") || !spec.endsWith(".ts")) continue; // packages and data (package.json)
        edges.push({ from, to: normalize(join(dirname(from), spec)) });
      }
    }
  }
  return edges;
}

/** Human-readable violations: upward imports, then folder cycles. Empty when the layering holds. */
export function violations(edges: readonly Edge[]): string[] {
  const found: string[] = [];
  for (const { from, to } of edges) {
    const a = layerOf(from);
    const b = layerOf(to);
    if (a === null) continue;
    if (b === null) found.push(`${from} imports ${to}, which is outside the layered code`);
    else if (LAYERS.indexOf(b) > LAYERS.indexOf(a)) found.push(`${from} (${a}) imports ${to} (${b}): upward`);
  }
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (layerOf(from) === null) continue;
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    graph.get(a)!.add(b);
  }
  for (const cycle of folderCycles(graph)) found.push(`folder cycle: ${cycle.join(" → ")}`);
  return found;
}

/** One cycle per strongly connected group of folders (Tarjan), each written from its first folder back to it. */
function folderCycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const to of graph.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    for (let top = stack.pop()!; ; top = stack.pop()!) {
      onStack.delete(top);
      group.push(top);
      if (top === node) break;
    }
    if (group.length > 1) groups.push(shortestCycle(graph, new Set(group)));
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return groups;
}

/** A real cycle through a strongly connected group: from its first folder (by name) back to it, shortest first. */
function shortestCycle(graph: Map<string, Set<string>>, group: Set<string>): string[] {
  const start = [...group].sort()[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  for (let at = 0; at < queue.length; at++) {
    const node = queue[at]!;
    for (const to of [...(graph.get(node) ?? [])].sort()) {
      if (!group.has(to)) continue;
      if (to === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
        return [...path, start];
      }
      if (!previous.has(to)) {
        previous.set(to, node);
        queue.push(to);
      }
    }
  }
  return [...group, start]; // unreachable for a strongly connected group
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

if (import.meta.main) {
  const found = violations(importsOf(join(import.meta.dir, "..")));
  for (const line of found) console.log(line);
  console.log(found.length === 0 ? "layering holds: limits → protocols → wire → runtime → applications → cli → bin" : `${found.length} violation(s)`);
  process.exit(found.length === 0 ? 0 : 1);
}
