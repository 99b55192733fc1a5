// How ./node ends: every exit code is named here once (README "Exit codes"), and an ExitError
// carries one to the CLI, which prints the message as one line on stderr and exits with the code.

export const ExitCode = {
  ok: 0,
  /** Could not start: a port taken, a file missing, the upstream unreachable, refusing us, or of the wrong kind. */
  startup: 1,
  /** A command-line mistake: an unknown flag, a missing value, a malformed address. */
  usage: 2,
  /** The node this role depends on (coordinator, broker) was lost mid-run and not found again in time. */
  upstreamLost: 3,
  /** The job ran and failed: an app error past its retries, a result that differs from the reference. */
  jobFailed: 4,
} as const;

export type ExitName = keyof typeof ExitCode;

export class ExitError extends Error {
  override readonly name = "ExitError";
  constructor(
    readonly exit: ExitName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get code(): number {
    return ExitCode[this.exit];
  }
}

/** A command-line mistake: one line, exit 2. */
export class UsageError extends ExitError {
  constructor(message: string) {
    super("usage", message);
  }
}
