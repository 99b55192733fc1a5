// The body of a worker's task thread: runs the app's map or reduce off the worker's event loop, so
// the worker keeps answering heartbeats and fetches during a task of any length. It reads and
// writes local files only (shuffle.ts); the worker's main thread does all the talking.
// Started by TaskRunner (task_runner.ts); listed as a build entrypoint (scripts/compile.ts).

import { appFor } from "./app_loader.ts";
import { mapToFile, reduceInputFile } from "./shuffle.ts";
import type { TaskRequest, TaskResult } from "./task_runner.ts";

declare const self: Worker;

self.onmessage = async (event: MessageEvent<TaskRequest>) => {
  const request = event.data;
  let result: TaskResult;
  try {
    const app = await appFor(request.app);
    if (request.kind === "map") {
      result = { id: request.id, ok: true, offsets: mapToFile(app, request.file, request.contents, request.reduces, request.path) };
    } else {
      const { bytes, keys, spills } = reduceInputFile(app, request.input, request.spillBytes, request.dir, request.out);
      result = { id: request.id, ok: true, bytes, keys, spills };
    }
  } catch (err) {
    result = { id: request.id, ok: false, error: (err as Error)?.message ?? String(err) };
  }
  self.postMessage(result);
};
