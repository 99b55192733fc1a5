// `./node run mapreduce` (npm start: the demo) and `./node run mutex --slaves N [--json]`:
// scenarios with local processes, each from its application's folder, rendered here.

import { killAll } from "../launcher/local_process.ts";
import { limits } from "../limits.ts";
import { runMapReduceDemo } from "../mapreduce/demo.ts";
import { runMutex, type MutexRunResult } from "../mutex/run_mutex.ts";
import { ExitCode, UsageError } from "../runtime/exit.ts";
import type { CommandSpec } from "../runtime/role.ts";

export const runCommand: CommandSpec = {
  name: "run",
  summary: "run a scenario with local processes: `run mapreduce` (the demo), `run mutex --slaves N [--json]`",
  flags: [
    { name: "slaves", type: "int", valueName: "N", help: `mutex: number of slave processes (1..${limits.mutexSlavesMax})` },
    { name: "json", type: "boolean", help: "print one JSON object instead of text" },
    { name: "workers", type: "int", valueName: "N", min: 2, max: limits.demoWorkersMax, help: "mapreduce: number of workers (default 3)" },
    { name: "size-mb", type: "int", valueName: "N", min: 1, max: limits.demoSizeMbMax, help: "mapreduce: size of the generated corpus (default 6)" },
  ],
  async run(flags, positionals, { terminal }) {
    const scenario = positionals[0];
    if (scenario === "mapreduce") {
      const result = await runMapReduceDemo({ workers: flags.int("workers", 3), sizeMb: flags.int("size-mb", 6), terminal });
      return result.identical ? ExitCode.ok : ExitCode.jobFailed;
    }
    if (scenario !== "mutex") throw new UsageError(`run: unknown scenario ${scenario === undefined ? "(none)" : `"${scenario}"`}; scenarios: mapreduce, mutex`);
    if (!flags.has("slaves")) throw new UsageError("run mutex needs --slaves N");
    const slaves = flags.int("slaves", 0);
    if (slaves < 1 || slaves > limits.mutexSlavesMax) throw new UsageError(`--slaves: ${slaves} is out of range 1..${limits.mutexSlavesMax}`);
    const progress = terminal.progress("appends", slaves);
    let result: MutexRunResult;
    try {
      result = await runMutex({ slaves, onProgress: (n) => progress.update(n) });
    } finally {
      progress.finish();
      await killAll();
    }
    if (flags.bool("json")) {
      terminal.line(JSON.stringify({ slaves: result.slaves, lists: result.lists, identical: result.identical, elapsedMs: result.elapsedMs, protocolMs: result.protocolMs }));
    } else {
      const shown = result.lists.length <= 20 ? result.lists : result.lists.slice(0, 3);
      shown.forEach((list, i) => terminal.line(`slave-${String(i + 1).padStart(3, "0")}: ${JSON.stringify(list)}`));
      if (shown.length < result.lists.length) terminal.line(`… and ${result.lists.length - shown.length} more lists (use --json for all)`);
      terminal.line(`${result.identical ? "IDENTICAL" : "DIFFERENT"}: ${result.lists.length} lists of ${result.lists[0]?.length ?? 0} numbers; ${result.elapsedMs} ms total, ${result.protocolMs} ms protocol`);
    }
    return result.identical && result.lists.length === slaves ? ExitCode.ok : ExitCode.jobFailed;
  },
};
