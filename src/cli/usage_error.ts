// A command-line mistake: printed as one line, exit code 2. Distinct from PeerError, which is
// about the wire.

export class UsageError extends Error {
  override readonly name = "UsageError";
}
