// Where a node's words go. stdout carries the lines scripts read (the listening line, results);
// stderr carries logs and the status line of long work. Roles and commands write through a
// Terminal handed to them by the CLI; the cores of applications write nowhere, they emit events.

export class Terminal {
  private readonly statusTty: boolean;

  constructor(
    private readonly writeOut: (text: string) => void = (text) => process.stdout.write(text),
    private readonly writeErr: (text: string) => void = (text) => process.stderr.write(text),
    tty: boolean = process.stderr.isTTY === true,
  ) {
    this.statusTty = tty;
  }

  /** One line on stdout, for scripts and people. */
  line(text: string): void {
    this.writeOut(text + "\n");
  }

  /** One line on stderr (logs, warnings). */
  log(text: string): void {
    this.writeErr(text + "\n");
  }

  /** A status line for long work: redrawn in place on a terminal, otherwise one line a second. */
  progress(label: string, total: number): Progress {
    return new Progress(label, total, this.statusTty, this.writeErr);
  }
}

export class Progress {
  private lastLineMs = 0;
  private drawn = false;
  private last = "";

  constructor(
    private readonly label: string,
    /** May grow once the real total is known. */
    public total: number,
    private readonly tty: boolean,
    private readonly write: (text: string) => void,
    private readonly widthChars = 30,
  ) {}

  update(done: number, extra = ""): void {
    const now = Date.now();
    this.last = `${this.label}: ${done}/${this.total} ${extra}`;
    if (this.tty) {
      const filled = Math.round((this.widthChars * Math.min(done, this.total)) / Math.max(1, this.total));
      this.write(`\r${this.label} [${"#".repeat(filled)}${"-".repeat(this.widthChars - filled)}] ${done}/${this.total} ${extra}\x1b[K`);
      this.drawn = true;
    } else if (now - this.lastLineMs >= 1_000) {
      this.lastLineMs = now;
      this.write(this.last + "\n");
      this.last = "";
    }
  }

  finish(): void {
    if (this.tty && this.drawn) this.write("\n");
    else if (!this.tty && this.last !== "") this.write(this.last + "\n");
  }
}
