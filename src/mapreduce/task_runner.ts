// The worker's side of its task thread (task_thread.ts): one thread, started on first use, runs
// one task at a time; the main thread stays free for heartbeats, the coordinator and fetches.
// A thread that dies (an error escaping the app, say) fails its task and is replaced on next use.

import type { AppSpec } from "../../protocols/mapreduce.ts";

export type TaskRequest =
  | { id: number; kind: "map"; app: AppSpec; file: string; contents: string; reduces: number; path: string }
  | { id: number; kind: "reduce"; app: AppSpec; input: string; spillBytes: number; dir: string; out: string };

export type TaskResult =
  | { id: number; ok: true; offsets?: number[]; bytes?: number; keys?: number; spills?: number }
  | { id: number; ok: false; error: string };

type Pending = { resolve: (result: TaskResult) => void };
/** A request as the caller gives it (the runner numbers it). */
type Unnumbered<T> = T extends unknown ? Omit<T, "id"> : never;

/**
 * Where the thread's code is. In the standalone executable the thread is its own entrypoint of
 * the build (scripts/compile.ts), found by its path from the repository root; from source, next
 * to this file.
 */
function threadUrl(): string {
  return import.meta.url.includes("$bunfs") ? "./src/mapreduce/task_thread.ts" : new URL("./task_thread.ts", import.meta.url).href;
}

export class TaskRunner {
  private thread: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** Run one task in the thread; resolves with its result (an app error is a result, not a rejection). */
  run(request: Unnumbered<TaskRequest>): Promise<TaskResult> {
    const thread = this.ensure();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve });
      thread.postMessage({ ...request, id });
    });
  }

  close(): void {
    this.thread?.terminate();
    this.thread = null;
    this.failAll("the worker is stopping");
  }

  private ensure(): Worker {
    if (this.thread !== null) return this.thread;
    const thread = new Worker(threadUrl());
    thread.onmessage = (event: MessageEvent<TaskResult>) => {
      const pending = this.pending.get(event.data.id);
      this.pending.delete(event.data.id);
      pending?.resolve(event.data);
    };
    thread.onerror = (event) => {
      // The thread is unusable: fail what it had, start a fresh one next time.
      thread.terminate();
      if (this.thread === thread) this.thread = null;
      this.failAll(`the task thread failed: ${(event as ErrorEvent).message ?? "unknown error"}`);
    };
    this.thread = thread;
    return thread;
  }

  private failAll(error: string): void {
    for (const [id, pending] of this.pending) pending.resolve({ id, ok: false, error });
    this.pending.clear();
  }
}
