// The shuffle's local mechanics, shared by workers and --sequential, with bounded memory:
// - a map's output is grouped by partition and key (folded by the app's combine, if any), sorted,
//   and written as one file of records, partition after partition, with the offset where each
//   partition starts (what a reducer fetches is a byte range of it);
// - a reduce reads its input (every map's records for its partition, in map order) into an
//   Accumulator that spills a sorted run to disk whenever it holds more than spillBytes, then
//   merges the runs and calls reduce once per key, in key order, writing the output as it goes.
// A record is a u32 big-endian length and msgpack [key, [values…]]; a key with many values is
// written as several consecutive records, so no record grows past recordBytesTarget by much.
// Everything here is synchronous file I/O: it runs in a task thread or in the one-process run.

import { closeSync, fstatSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { limits } from "../limits.ts";
import { FrameDecoder } from "../wire/frame_decoder.ts";
import { decode, Encoder } from "../wire/msgpack.ts";
import type { MapReduceApp } from "./app.ts";
import { partitionOf } from "./partition.ts";

export type Group = [key: string, values: string[]];

const encoder = new Encoder();

/** Approximate bytes a key or value holds in memory (UTF-16 plus object overhead). */
const heldBytesOf = (s: string): number => s.length * 2 + 32;

/** Writes records to a file through a 1 MiB buffer. */
export class RecordWriter {
  private readonly fd: number;
  private readonly buffer = Buffer.allocUnsafe(1024 * 1024);
  private used = 0;
  /** Bytes written so far (buffered ones included). */
  bytes = 0;

  constructor(path: string) {
    this.fd = openSync(path, "w");
  }

  /** One group, as one or more records of at most about recordBytesTarget each. */
  write(key: string, values: readonly string[]): void {
    if (values.length === 0) return this.record(key, values);
    for (let from = 0; from < values.length; ) {
      let to = from + 1;
      let size = (key.length + values[from]!.length) * 3;
      while (to < values.length && size + values[to]!.length * 3 < limits.recordBytesTarget) size += values[to++]!.length * 3 + 5;
      this.record(key, from === 0 && to === values.length ? values : values.slice(from, to));
      from = to;
    }
  }

  private record(key: string, values: readonly string[]): void {
    const body = encoder.encode([key, values]);
    if (this.used + 4 + body.length > this.buffer.length) this.flush();
    if (4 + body.length > this.buffer.length) {
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32BE(body.length, 0);
      writeSync(this.fd, head);
      writeSync(this.fd, body);
    } else {
      this.buffer.writeUInt32BE(body.length, this.used);
      this.buffer.set(body, this.used + 4);
      this.used += 4 + body.length;
    }
    this.bytes += 4 + body.length;
  }

  flush(): void {
    let at = 0;
    while (at < this.used) at += writeSync(this.fd, this.buffer, at, this.used - at);
    this.used = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** The records of path[start, end), in order. */
export function* readRecords(path: string, start = 0, end?: number): Generator<Group> {
  const fd = openSync(path, "r");
  try {
    const stop = end ?? fstatSync(fd).size;
    const chunk = Buffer.allocUnsafe(256 * 1024);
    const decoder = new FrameDecoder(limits.recordBytesMax);
    const ready: Group[] = [];
    for (let at = start; at < stop; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, stop - at), at);
      if (n === 0) break;
      at += n;
      decoder.feed(chunk.subarray(0, n), (body) => void ready.push(decode(body) as Group));
      for (const group of ready) yield group;
      ready.length = 0;
    }
  } finally {
    closeSync(fd);
  }
}

/** Fold a key's values with the app's combine, if it has one. */
function combined(app: MapReduceApp, key: string, values: string[]): string[] {
  return app.combine === undefined || values.length < 2 ? values : [app.combine(key, values)];
}

/**
 * Group one map's pairs by partition and key (values in emit order), folding hot keys with the
 * app's combine as they grow: what a map task writes, and what --sequential feeds its partitions.
 */
export function groupPairs(app: MapReduceApp, pairs: ReadonlyArray<readonly [string, string]>, reduces: number): Array<Map<string, string[]>> {
  // One map for all keys first (a key is hashed once per split, not once per pair), then split.
  const all = new Map<string, string[]>();
  for (let i = 0; i < pairs.length; i++) {
    const key = pairs[i]![0];
    const values = all.get(key);
    if (values === undefined) all.set(key, [pairs[i]![1]]);
    else {
      values.push(pairs[i]![1]);
      if (app.combine !== undefined && values.length >= limits.combineEveryValues) all.set(key, combined(app, key, values));
    }
  }
  const partitions: Array<Map<string, string[]>> = Array.from({ length: reduces }, () => new Map());
  for (const [key, values] of all) partitions[partitionOf(key, reduces)]!.set(key, values);
  return partitions;
}

/**
 * Run a map and write its output to `path`: partition after partition, keys sorted (code-unit
 * order), values in emit order (or combined). Returns where each partition starts, and the end.
 */
export function mapToFile(app: MapReduceApp, file: string, contents: string, reduces: number, path: string): number[] {
  const partitions = groupPairs(app, app.map(file, contents), reduces);
  const writer = new RecordWriter(path);
  const offsets: number[] = [];
  try {
    for (const groups of partitions) {
      offsets.push(writer.bytes);
      for (const key of [...groups.keys()].sort()) writer.write(key, combined(app, key, groups.get(key)!));
    }
    offsets.push(writer.bytes);
  } finally {
    writer.close();
  }
  return offsets;
}

/**
 * Groups of one partition, gathered with bounded memory: past spillBytes the groups go to disk as
 * a sorted run; merged() then yields every key once, in key order, its values in the order they
 * were added (runs are merged in the order they were written).
 */
export class Accumulator {
  private groups = new Map<string, string[]>();
  private heldBytes = 0;
  private readonly runs: string[] = [];

  constructor(
    private readonly app: MapReduceApp,
    private readonly spillBytes: number,
    private readonly dir: string,
    private readonly name: string,
  ) {}

  /** Sorted runs written to disk so far. */
  get spills(): number {
    return this.runs.length;
  }

  /** Bytes held in memory now (an estimate). */
  get held(): number {
    return this.heldBytes;
  }

  add(key: string, values: readonly string[]): void {
    let list = this.groups.get(key);
    if (list === undefined) {
      list = [];
      this.groups.set(key, list);
      this.heldBytes += heldBytesOf(key);
    }
    for (let i = 0; i < values.length; i++) {
      list.push(values[i]!);
      this.heldBytes += heldBytesOf(values[i]!);
    }
    if (this.app.combine !== undefined && list.length >= limits.combineEveryValues) {
      const folded = combined(this.app, key, list);
      for (const value of list) this.heldBytes -= heldBytesOf(value);
      for (const value of folded) this.heldBytes += heldBytesOf(value);
      this.groups.set(key, folded);
    }
    if (this.heldBytes > this.spillBytes) this.spill();
  }

  /** Write what is held as a sorted run and forget it. */
  spill(): void {
    if (this.groups.size === 0) return;
    const path = join(this.dir, `${this.name}-run-${this.runs.length}`);
    const writer = new RecordWriter(path);
    try {
      for (const key of [...this.groups.keys()].sort()) writer.write(key, combined(this.app, key, this.groups.get(key)!));
    } finally {
      writer.close();
    }
    this.runs.push(path);
    this.groups = new Map();
    this.heldBytes = 0;
  }

  /** Every key once, in key order, with all its values; the runs on disk are deleted after. */
  *merged(): Generator<Group> {
    if (this.runs.length === 0) {
      for (const key of [...this.groups.keys()].sort()) yield [key, this.groups.get(key)!];
      return;
    }
    this.spill();
    try {
      yield* mergeRuns(this.runs.map((path) => readRecords(path)));
    } finally {
      for (const path of this.runs) unlinkSync(path);
    }
  }
}

/** K-way merge of sorted record streams; equal keys are joined in stream order (a min-heap on key, then stream). */
export function* mergeRuns(streams: Array<Iterator<Group>>): Generator<Group> {
  type Head = { group: Group; stream: number };
  const heap: Head[] = [];
  const less = (a: Head, b: Head): boolean => a.group[0] < b.group[0] || (a.group[0] === b.group[0] && a.stream < b.stream);
  const push = (h: Head): void => {
    heap.push(h);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const pop = (): Head => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  const advance = (stream: number): void => {
    const next = streams[stream]!.next();
    if (!next.done) push({ group: next.value, stream });
  };
  for (let s = 0; s < streams.length; s++) advance(s);
  while (heap.length > 0) {
    const first = pop();
    const key = first.group[0];
    const values = [...first.group[1]];
    advance(first.stream);
    while (heap.length > 0 && heap[0]!.group[0] === key) {
      const same = pop();
      for (const v of same.group[1]) values.push(v);
      advance(same.stream);
    }
    yield [key, values];
  }
}

/** Writes an output file ("<key> <value>\n" per key) through a buffer. */
export class OutputWriter {
  private readonly fd: number;
  private text = "";
  bytes = 0;
  keys = 0;

  constructor(path: string) {
    this.fd = openSync(path, "w");
  }

  line(key: string, value: string): void {
    this.text += `${key} ${value}\n`;
    this.keys++;
    if (this.text.length >= 256 * 1024) this.flush();
  }

  private flush(): void {
    if (this.text === "") return;
    const bytes = Buffer.from(this.text, "utf8");
    let at = 0;
    while (at < bytes.length) at += writeSync(this.fd, bytes, at, bytes.length - at);
    this.bytes += bytes.length;
    this.text = "";
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Reduce everything an accumulator gathered into an output file; returns its size and key count. */
export function reduceToFile(app: MapReduceApp, groups: Iterable<Group>, outPath: string): { bytes: number; keys: number } {
  const out = new OutputWriter(outPath);
  try {
    for (const [key, values] of groups) out.line(key, app.reduce(key, values));
  } finally {
    out.close();
  }
  return { bytes: out.bytes, keys: out.keys };
}

/** A reduce task on a worker: its input file (records of every map, in map order) → output file. */
export function reduceInputFile(app: MapReduceApp, inputPath: string, spillBytes: number, dir: string, outPath: string): { bytes: number; keys: number; spills: number } {
  const acc = new Accumulator(app, spillBytes, dir, `reduce-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  for (const [key, values] of readRecords(inputPath)) acc.add(key, values);
  const spills = acc.spills;
  return { ...reduceToFile(app, acc.merged(), outPath), spills };
}
