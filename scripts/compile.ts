// Build the standalone executable: `bun scripts/compile.ts <outfile> [--target T] [--minify]`.
// The one place that knows the build's entrypoints: bin/node.ts, and each thread the node starts
// (Bun bundles a Worker's code only when it is an entrypoint of its own). Used by `npm run build`,
// build-all, the bench and the compiled-binary test.

import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
/** Paths from the repository root; a thread is found at the same path inside the executable. */
export const ENTRYPOINTS = ["bin/node.ts", "src/mapreduce/task_thread.ts"];

/** The `bun build` command line that compiles the node to `outfile`. */
export function compileCommand(outfile: string, options: { target?: string; minify?: boolean } = {}): string[] {
  return [
    process.execPath, "build", "--compile",
    ...(options.minify ? ["--minify"] : []),
    ...(options.target ? [`--target=${options.target}`] : []),
    ...ENTRYPOINTS, "--outfile", resolve(outfile),
  ];
}

/** Compile; throws with bun's message on failure. */
export function compileNode(outfile: string, options: { target?: string; minify?: boolean } = {}): void {
  const build = Bun.spawnSync(compileCommand(outfile, options), { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`bun build --compile failed: ${build.stderr.toString().trim().split("\n").slice(-3).join(" ")}`);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const outfile = args.find((a) => !a.startsWith("--")) ?? "node";
  const target = args.find((a) => a.startsWith("--target="))?.slice("--target=".length);
  try {
    compileNode(outfile, { target, minify: args.includes("--minify") });
    console.log(`built ${outfile}`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
