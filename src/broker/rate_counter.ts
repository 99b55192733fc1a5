// A total plus rates over the last 1 s and 10 s, from per-second buckets (a ring of 11 so the
// current, partial second is not counted in the 10 s rate).

const BUCKETS = 11;

// A coarse clock: counters are bumped several times per message, and Date.now() each time showed
// in profiles. One timer per process updates it, started by the first counter (processes that
// never count, which is most roles, never run it); rates only need whole seconds.
let nowSecond = Math.floor(Date.now() / 1000);
let clockRunning = false;
function startClock(): void {
  if (clockRunning) return;
  clockRunning = true;
  setInterval(() => {
    nowSecond = Math.floor(Date.now() / 1000);
  }, 100).unref?.();
}

export class RateCounter {
  total = 0;
  private readonly buckets = new Float64Array(BUCKETS);
  private second: number;

  constructor() {
    startClock();
    nowSecond = Math.floor(Date.now() / 1000);
    this.second = nowSecond;
  }

  add(n = 1): void {
    this.total += n;
    this.roll(nowSecond);
    this.buckets[this.second % BUCKETS]! += n;
  }

  /** Events per second over the last full second and the last 10 full seconds. */
  rates(nowMs = Date.now()): { perSec1s: number; perSec10s: number } {
    const now = Math.floor(nowMs / 1000);
    this.roll(now);
    const last = this.buckets[(now - 1 + BUCKETS) % BUCKETS]!;
    let sum = 0;
    for (let s = 1; s <= 10; s++) sum += this.buckets[(now - s + BUCKETS * 2) % BUCKETS]!;
    return { perSec1s: last, perSec10s: sum / 10 };
  }

  private roll(now: number): void {
    if (now === this.second) return;
    const steps = Math.min(BUCKETS, now - this.second);
    for (let s = 1; s <= steps; s++) this.buckets[(this.second + s) % BUCKETS] = 0;
    this.second = now;
  }
}
