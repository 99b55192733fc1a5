// `npm run build:all`: cross-compile the standalone executable for every platform a lab may use.
// Bun fetches each target's runtime from the npm registry the first time.

import { $ } from "bun";
import { mkdirSync } from "node:fs";

const targets = [
  { target: "bun-linux-x64", out: "dist/peer-node-linux-x64" },
  { target: "bun-linux-arm64", out: "dist/peer-node-linux-arm64" },
  { target: "bun-darwin-arm64", out: "dist/peer-node-darwin-arm64" },
  { target: "bun-windows-x64", out: "dist/peer-node-windows-x64.exe" },
];

mkdirSync("dist", { recursive: true });
let failed = 0;
for (const { target, out } of targets) {
  const result = await $`bun build --compile --minify --target=${target} bin/node.ts --outfile ${out}`.nothrow().quiet();
  if (result.exitCode === 0) console.log(`built ${out}`);
  else {
    failed++;
    console.error(`failed ${target}: ${result.stderr.toString().trim().split("\n").at(-1)}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
