// `npm run build:all`: cross-compile the standalone executable for every platform a lab may use.
// Bun fetches each target's runtime from the npm registry the first time.

import { mkdirSync } from "node:fs";
import { compileNode } from "./compile.ts";

const targets = [
  { target: "bun-linux-x64", out: "dist/peer-node-linux-x64" },
  { target: "bun-linux-arm64", out: "dist/peer-node-linux-arm64" },
  { target: "bun-darwin-arm64", out: "dist/peer-node-darwin-arm64" },
  { target: "bun-windows-x64", out: "dist/peer-node-windows-x64.exe" },
];

mkdirSync("dist", { recursive: true });
let failed = 0;
for (const { target, out } of targets) {
  try {
    compileNode(out, { target, minify: true });
    console.log(`built ${out}`);
  } catch (err) {
    failed++;
    console.error(`failed ${target}: ${(err as Error).message}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
