// Progress for long work, on stderr: a redrawn bar on a terminal, otherwise one status line per
// second (so logs and CI output stay readable).

export class Progress {
  private lastLineMs = 0;
  private readonly tty = process.stderr.isTTY === true;
  private drawn = false;
  private last = "";

  constructor(
    private readonly label: string,
    /** May grow once the real total is known. */
    public total: number,
    private readonly widthChars = 30,
  ) {}

  update(done: number, extra = ""): void {
    const now = Date.now();
    this.last = `${this.label}: ${done}/${this.total} ${extra}`;
    if (this.tty) {
      const filled = Math.round((this.widthChars * Math.min(done, this.total)) / Math.max(1, this.total));
      process.stderr.write(`\r${this.label} [${"#".repeat(filled)}${"-".repeat(this.widthChars - filled)}] ${done}/${this.total} ${extra}\x1b[K`);
      this.drawn = true;
    } else if (now - this.lastLineMs >= 1_000) {
      this.lastLineMs = now;
      process.stderr.write(this.last + "\n");
      this.last = "";
    }
  }

  finish(): void {
    if (this.tty && this.drawn) process.stderr.write("\n");
    else if (!this.tty && this.last !== "") process.stderr.write(this.last + "\n");
  }
}
