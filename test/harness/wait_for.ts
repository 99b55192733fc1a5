// Poll instead of sleeping: waitFor(fn) retries fn until it returns a truthy value or throws no
// more, and fails with the last error after timeoutMs.

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 5_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`waitFor timed out after ${timeoutMs} ms${why}`);
    }
    await Bun.sleep(everyMs);
  }
}
