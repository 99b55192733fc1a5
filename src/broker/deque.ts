// A growable ring buffer: O(1) push and shift at both ends. Queues and lists hold up to millions
// of items; Array.shift() is O(n) on large arrays, so they use this instead.

export class Deque<T> {
  private items: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(capacity = 16) {
    this.items = new Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  pushBack(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
  }

  pushFront(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1 + this.items.length) % this.items.length;
    this.items[this.head] = item;
    this.count++;
  }

  popFront(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return item;
  }

  popBack(): T | undefined {
    if (this.count === 0) return undefined;
    const at = (this.head + this.count - 1) % this.items.length;
    const item = this.items[at];
    this.items[at] = undefined;
    this.count--;
    return item;
  }

  peekFront(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  at(index: number): T | undefined {
    if (index < 0 || index >= this.count) return undefined;
    return this.items[(this.head + index) % this.items.length];
  }

  clear(): void {
    this.items = new Array(16);
    this.head = 0;
    this.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) % this.items.length] as T;
  }

  private grow(): void {
    const size = this.items.length;
    const next = new Array<T | undefined>(size * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % size];
    this.items = next;
    this.head = 0;
  }
}
