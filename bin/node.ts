#!/usr/bin/env bun
// Entry point of the `./node` binary: everything lives in src/cli/main.ts.
import { main } from "../src/cli/main.ts";

const code = await main(process.argv.slice(2));
process.exit(code);
