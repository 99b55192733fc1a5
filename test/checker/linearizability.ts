// A linearizability checker for the replicated, versioned key-value store: given a history of
// read / write / updateIfValueIs / cas operations with their real-time intervals and outcomes, it
// decides whether some sequential order of them, consistent with real time, is a legal run of the
// model below. Linearizability is local (P-compositionality): a history is linearizable iff each
// key's sub-history is, so each key is checked on its own.
//
// The search is Wing & Gong's (linearize an op whose call precedes every pending return, recurse,
// backtrack) with Lowe's memoization (never explore the same (set of linearized ops, model state)
// twice), organised as in Porcupine: the ops' call and return events in one time-sorted linked
// list, from which linearized ops are lifted and restored on backtrack. These additions keep
// real histories tractable (the search can take exponential time without them), each justified
// where it is made:
//   - versions never go down: a branch dies as soon as the version passes the highest version
//     some still-unlinearized definite op could have been applied at (every result pins one);
//   - each version is written once, so its value never changes: a branch dies as soon as it
//     writes a version with a value that some pending definite op's result denies;
//   - before searching, an op is marked impossible when a single other op already rules it out:
//     one that returned before its call had put the version past what it allows (a stale read),
//     or wrote the version it saw with another value, or it read a value nobody could have
//     written yet. Proving those by search alone could mean trying every order before them;
//   - a value that no read ever returned and no updateIfValueIs expects cannot be told apart
//     from another such value, so all of them are one value in the model state;
//   - indefinite ops with equal inputs are interchangeable once both are called, so they are
//     linearized in call order only;
//   - candidates are tried definite first, then indefinite latest-called first (see candidates).
//
// The model, per key (what the store must do):
//   state: version (0 = never written) and the values of the newest versionsMax versions
//     (versions v with version - versionsMax < v <= version, the current one included).
//   read {}          ok {value, version}: the current value and version; NOT_FOUND iff version = 0.
//   read {version v} ok {value, version: v} iff version - versionsMax < v <= version;
//                    NOT_FOUND iff v > version; VERSION_GONE iff v <= version - versionsMax.
//   write {value}    ok {version: version + 1}, value stored.
//   updateIfValueIs {newValue, expected}  applied iff version >= 1 and the current value deep-equals
//                    expected; ok {applied, version: applied ? version + 1 : version}.
//   cas {newValue, version: v}  applied iff version = v (0 for a never-written key);
//                    ok {applied, version: applied ? version + 1 : version}.
// Outcomes: "ok" took effect (or observed) between call and return; "fail" of a read with
// NOT_FOUND or VERSION_GONE is an observation like an ok; any other "fail" did not happen and is
// dropped; "info" may take effect at any time after its call, or never (an indefinite read
// observes nothing for us and is dropped). Events at the same instant count as concurrent.

export type Outcome =
  | { kind: "ok"; result: unknown } // the op took effect (or, for a read, observed this)
  | { kind: "fail"; error: string } // definite failure: the op did NOT take effect
  | { kind: "info" }; // indefinite: may or may not have taken effect, at any time after its call

export interface Operation {
  client: number;
  key: string;
  op: "read" | "write" | "updateIfValueIs" | "cas";
  input: { version?: number; value?: unknown; newValue?: unknown; expected?: unknown };
  callMs: number;
  returnMs: number; // for "info": the time it was given up; the op may still take effect later
  outcome: Outcome;
}

export interface CheckOptions {
  /** Versions the store keeps per key, the current one included. */
  versionsMax?: number;
  /** Search time allowed per key before the verdict is "unknown". */
  budgetMs?: number;
}

/** ok true: proven linearizable; `ops` counts the ops that constrained it (not the failures that did not happen, nor indefinite reads). ok false: proven not; `ops` is a window around the offending op, `why` names it. ok "unknown": undecided within the budget. */
export type Verdict =
  | { ok: true; keys: number; ops: number }
  | { ok: false; key: string; why: string; ops: Operation[] }
  | { ok: "unknown"; key: string; why: string };

/** The store's default: it keeps the newest 10 versions of a key. */
export const VERSIONS_MAX_DEFAULT = 10;
/** Search time per key: thousands of ops of a sane history take well under a second; a pathological one must not stall a test run. */
export const BUDGET_MS_DEFAULT = 10_000;
/** Memo size per key (estimated bytes) before giving up with "unknown": the machine is shared, and a search that needs more is not going to finish in its budget either. */
const MEMO_BYTES_MAX = 256 * 1024 * 1024;
/** What a memo entry costs beyond its bitset (entry object, array slot, map bucket): an estimate, only for MEMO_BYTES_MAX. */
const MEMO_ENTRY_OVERHEAD_BYTES = 80;
/** Search steps between two looks at the clock (a power of two): reading it every step would cost more than the step. */
const STEPS_PER_CLOCK_CHECK = 1024;
/** Time to narrow a proven violation to its window: a convenience, not worth more than a couple of seconds per key. */
const WINDOW_BUDGET_MS = 2_000;
/** Ops shown before the offending one in a failing window: enough to see the state it should have observed. */
const WINDOW_CONTEXT_OPS = 4;
/** Read errors that are observations of the model; any other failure means "did not happen". */
const OBSERVED_READ_ERRORS: ReadonlySet<string> = new Set(["NOT_FOUND", "VERSION_GONE"]);
/** Value id of every value nobody can observe (see unobservable values above). */
const UNOBSERVED = 0;

// ---------------------------------------------------------------------------------------------
// Public entry points

export function checkHistory(history: Operation[], options: CheckOptions = {}): Verdict {
  const versionsMax = options.versionsMax ?? VERSIONS_MAX_DEFAULT;
  const budgetMs = options.budgetMs ?? BUDGET_MS_DEFAULT;
  if (!Number.isInteger(versionsMax) || versionsMax < 1) throw new RangeError(`versionsMax must be a positive integer, not ${versionsMax}`);
  validate(history);
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    if (!informative(op)) continue;
    const ops = byKey.get(op.key) ?? [];
    ops.push(op);
    byKey.set(op.key, ops);
  }
  let unknown: Verdict | null = null;
  let opsChecked = 0;
  for (const [key, ops] of byKey) {
    opsChecked += ops.length;
    const verdict = checkKey(key, ops, versionsMax, budgetMs);
    if (verdict.ok === false) return verdict; // a proven violation beats an undecided key
    if (verdict.ok === "unknown") unknown ??= verdict;
  }
  return unknown ?? { ok: true, keys: byKey.size, ops: opsChecked };
}

/** One line per op, times relative to the earliest call: for test failure messages. Indefinite ops are marked `*` and show `..∞` (they may take effect any time after their call). */
export function formatOps(ops: readonly Operation[]): string {
  const originMs = Math.min(...ops.map((o) => o.callMs));
  const ms = (t: number) => (t - originMs).toFixed(1).padStart(9);
  const lines = ops.map((o) => {
    const info = o.outcome.kind === "info";
    const span = `${ms(o.callMs)} ..${info ? `  ∞ (gave up ${ms(o.returnMs).trim()})` : ms(o.returnMs)}`;
    return `${span}  c${o.client}${info ? "*" : " "} ${JSON.stringify(o.key)} ${describe(o)}`;
  });
  return ops.length === 0 ? "" : [`(ms after ${originMs.toFixed(1)})`, ...lines].join("\n");
}

/** A verdict as text: the why, and for a violation its window of ops. */
export function formatVerdict(verdict: Verdict): string {
  if (verdict.ok === true) return `linearizable: ${verdict.ops} ops on ${verdict.keys} keys`;
  if (verdict.ok === "unknown") return `undecided for key ${JSON.stringify(verdict.key)}: ${verdict.why}`;
  return `not linearizable, key ${JSON.stringify(verdict.key)}: ${verdict.why}\n${formatOps(verdict.ops)}`;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** An op and its outcome in one line, without times. */
function describe(o: Operation): string {
  const outcome = o.outcome.kind === "ok" ? `ok ${show(o.outcome.result)}` : o.outcome.kind === "fail" ? `fail ${o.outcome.error}` : "info";
  return `${o.op} ${show(o.input)} → ${outcome}`;
}

// ---------------------------------------------------------------------------------------------
// History hygiene

/** Throws on a history the harness could not have recorded: a wrong shape, or overlapping ops of one client (its timestamps would be wrong, and so would any verdict). */
function validate(history: Operation[]): void {
  const fail = (i: number, why: string): never => {
    throw new TypeError(`history[${i}] ${show(history[i])}: ${why}`);
  };
  const isVersion = (v: unknown, min: number) => typeof v === "number" && Number.isInteger(v) && v >= min;
  const record = (v: unknown): Record<string, unknown> | null => (typeof v === "object" && v !== null ? (v as Record<string, unknown>) : null);
  history.forEach((o, i) => {
    if (typeof o.key !== "string") fail(i, "key must be a string");
    if (!Number.isFinite(o.callMs) || Number.isNaN(o.returnMs) || o.returnMs < o.callMs) fail(i, "needs a finite callMs and returnMs >= callMs");
    const input = record(o.input) ?? fail(i, "input must be an object");
    switch (o.op) {
      case "read":
        if (input.version !== undefined && !isVersion(input.version, 1)) fail(i, "a read's version must be a positive integer");
        break;
      case "write":
        if (input.value === undefined) fail(i, "a write needs a value");
        break;
      case "updateIfValueIs":
        if (input.newValue === undefined || input.expected === undefined) fail(i, "updateIfValueIs needs newValue and expected");
        break;
      case "cas":
        if (input.newValue === undefined || !isVersion(input.version, 0)) fail(i, "cas needs newValue and a version >= 0");
        break;
      default:
        fail(i, "unknown op");
    }
    if (!["ok", "fail", "info"].includes(o.outcome.kind)) fail(i, "outcome kind must be ok, fail or info");
    if (o.outcome.kind === "fail" && typeof o.outcome.error !== "string") fail(i, "a failure needs an error name");
    if (o.outcome.kind !== "ok") return;
    const result = record(o.outcome.result) ?? fail(i, "an ok result must be an object");
    if (o.op === "read" && (result.value === undefined || !isVersion(result.version, 1))) fail(i, "an ok read returns {value, version >= 1}");
    if (o.op === "write" && !isVersion(result.version, 1)) fail(i, "an ok write returns {version >= 1}");
    if ((o.op === "updateIfValueIs" || o.op === "cas") && (typeof result.applied !== "boolean" || !isVersion(result.version, result.applied ? 1 : 0))) {
      fail(i, `an ok ${o.op} returns {applied, version}`);
    }
  });
  const byClient = new Map<number, number[]>();
  history.forEach((o, i) => {
    const indexes = byClient.get(o.client) ?? [];
    indexes.push(i);
    byClient.set(o.client, indexes);
  });
  for (const [client, indexes] of byClient) {
    indexes.sort((a, b) => history[a]!.callMs - history[b]!.callMs || a - b);
    for (let j = 1; j < indexes.length; j++) {
      const before = history[indexes[j - 1]!]!;
      if (history[indexes[j]!]!.callMs < before.returnMs) fail(indexes[j]!, `client ${client} called it before history[${indexes[j - 1]}] returned`);
    }
  }
}

/** Whether an op constrains anything: failures other than a read's observations did not happen, and an indefinite read observed nothing we know. */
function informative(op: Operation): boolean {
  if (op.outcome.kind === "fail") return op.op === "read" && OBSERVED_READ_ERRORS.has(op.outcome.error);
  return !(op.outcome.kind === "info" && op.op === "read");
}

// ---------------------------------------------------------------------------------------------
// One key: decide, and for a violation find the window that shows it

function checkKey(key: string, ops: Operation[], versionsMax: number, budgetMs: number): Verdict {
  const decided = decide(ops, versionsMax, performance.now() + budgetMs);
  if (decided.verdict === "ok") return { ok: true, keys: 1, ops: ops.length };
  if (decided.verdict === "unknown") return { ok: "unknown", key, why: `${decided.why} (${ops.length} ops)` };
  return { ok: false, key, ...violationWindow(ops, versionsMax, decided, performance.now() + Math.min(budgetMs, WINDOW_BUDGET_MS)) };
}

/**
 * The earliest point in real time by which the history already fails, and the ops around it.
 * The history cut at time t (ops called by t; those not returned by t made indefinite) is what
 * an observer knew at t; if it fails, every later cut fails too, so the first failing cut can be
 * searched for among the return times. The op returning there is the offender: once its result
 * was known, no order explained everything. Refuting a cut is the expensive check (every order
 * tried, and a cut lacks the later results that prune the full search), so: start from where the
 * full search got stuck, try its guess first, then gallop forward and bisect.
 */
function violationWindow(ops: Operation[], versionsMax: number, hint: { stuckMs: number; blockerMs: number }, deadlineMs: number): { why: string; ops: Operation[] } {
  const returns = [...new Set(ops.filter((o) => o.outcome.kind !== "info").map((o) => o.returnMs))].sort((a, b) => a - b);
  let undecided = false;
  const fails = (at: number) => {
    const verdict = decide(cutAt(ops, returns[at]!), versionsMax, deadlineMs).verdict;
    undecided ||= verdict === "unknown"; // counted as passing: the window is only later than it could be
    return verdict === "fail";
  };
  const indexOf = (ms: number) => Math.max(0, returns.findIndex((t) => t >= ms));
  let lo = indexOf(hint.stuckMs);
  let hi = returns.length - 1; // the last cut is the whole history minus late indefinite ops: it fails
  const guess = Math.min(hi, Math.max(lo, indexOf(hint.blockerMs)));
  if (guess < hi && !fails(guess)) lo = guess + 1;
  else {
    hi = guess;
    if (guess > lo && !fails(guess - 1)) lo = guess;
  }
  for (let stride = 1, at = lo; at < hi; stride *= 2, at = Math.min(hi, lo + stride - 1)) {
    if (fails(at)) {
      hi = at;
      break;
    }
    lo = at + 1;
  }
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (fails(mid)) hi = mid;
    else lo = mid + 1;
  }
  const cutMs = returns[lo] ?? Infinity;
  const known = ops.filter((o) => o.callMs <= cutMs);
  const offenders = known.filter((o) => o.outcome.kind !== "info" && o.returnMs === cutMs);
  const startMs = Math.min(...offenders.map((o) => o.callMs));
  // Shown: the definite ops overlapping the offenders, the few that returned just before them,
  // and the indefinite ops called since the first of those (earlier ones are only counted).
  const definite = known.filter((o) => o.outcome.kind !== "info");
  const overlapping = definite.filter((o) => o.returnMs >= startMs);
  const before = definite.filter((o) => o.returnMs < startMs).sort((a, b) => a.returnMs - b.returnMs).slice(-WINDOW_CONTEXT_OPS);
  const fromMs = Math.min(...[...before, ...overlapping].map((o) => o.callMs));
  const indefinite = known.filter((o) => o.outcome.kind === "info");
  const shown = indefinite.filter((o) => o.callMs >= fromMs);
  const hidden = indefinite.length - shown.length;
  const what = offenders.map((o) => `c${o.client} ${describe(o)}`).join("; ");
  return {
    why:
      `no order of the ${known.length} ops called by ${cutMs.toFixed(1)}ms explains ${what} (returned then), given real-time order and the ops before it` +
      (hidden > 0 ? `; ${hidden} indefinite ops called before the window (not shown) may take effect anywhere in it` : "") +
      (undecided ? `; the window search ran out of time, so the trouble may start earlier${likely(ops, hint.blockerMs)}` : ""),
    ops: [...before, ...overlapping, ...shown].sort((a, b) => a.callMs - b.callMs),
  };
}

/** The op whose result last stopped the full search, as a hint when the window could not be narrowed. */
function likely(ops: Operation[], blockerMs: number): string {
  const blocker = ops.find((o) => o.outcome.kind !== "info" && o.returnMs === blockerMs);
  return blocker === undefined ? "" : ` (the search was last stopped by c${blocker.client} ${describe(blocker)}, returned at ${blockerMs.toFixed(1)}ms)`;
}

/** The history as known at time cutMs: later calls dropped, later returns indefinite. */
function cutAt(ops: Operation[], cutMs: number): Operation[] {
  return ops
    .filter((o) => o.callMs <= cutMs)
    .map((o): Operation => (o.outcome.kind === "info" || o.returnMs <= cutMs ? o : { ...o, outcome: { kind: "info" } }))
    .filter(informative);
}

// ---------------------------------------------------------------------------------------------
// Compiling ops for the search

type Kind = "read" | "readAt" | "write" | "updateIfValueIs" | "cas";

/** An op as the search sees it: inputs and results as numbers (values as interned ids). */
interface Step {
  kind: Kind;
  definite: boolean;
  callMs: number;
  returnMs: number; // Infinity for an indefinite op
  inVersion: number; // readAt's and cas's version
  inValue: number; // the value written if applied
  inExpected: number; // updateIfValueIs's expected value
  out: "ok" | "NOT_FOUND" | "VERSION_GONE";
  outVersion: number;
  outValue: number;
  outApplied: boolean;
  /** Highest version the key can have just before this op takes effect; the search prunes on it. Infinity for an indefinite op, -1 for a result no state gives. */
  maxVersionBefore: number;
  /** What a definite op's result says about the value of some version (each version is written once, so this never changes); the search prunes on it. */
  facts: Fact[];
}

/** "The value of version `version` is (equal) or is not (!equal) value id `valueId`." */
interface Fact {
  version: number;
  valueId: number;
  equal: boolean;
}

/** Deep equality as string equality, as the store compares values (src/storage/kv_state.ts sameValue): object keys in any order, binaries by their bytes, NaN equal to NaN. */
function canonical(value: unknown): string {
  if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : `#${value}`; // JSON would make NaN and Infinity null
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "undefined";
  if (value instanceof Uint8Array) return `bin[${value.join(",")}]`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`)
    .join(",")}}`;
}

function compile(ops: Operation[], versionsMax: number): Step[] {
  // Only values someone observes get their own id; the rest are all UNOBSERVED (see the header).
  const ids = new Map<string, number>();
  const observe = (value: unknown) => {
    const c = canonical(value);
    if (!ids.has(c)) ids.set(c, ids.size + 1);
  };
  for (const o of ops) {
    if (o.op === "updateIfValueIs") observe(o.input.expected);
    if (o.op === "read" && o.outcome.kind === "ok") observe((o.outcome.result as { value: unknown }).value);
  }
  const id = (value: unknown) => ids.get(canonical(value)) ?? UNOBSERVED;
  // When each observed value could first have been written: a read of it returning earlier is
  // impossible (cheap to see here; the search would have to try every order to find out).
  const firstWriteMs = new Map<number, number>();
  for (const o of ops) {
    const written = id(o.op === "write" ? o.input.value : o.input.newValue);
    const applies = o.outcome.kind !== "ok" || o.op === "write" || (o.outcome.result as { applied: boolean }).applied;
    if (o.op !== "read" && applies) firstWriteMs.set(written, Math.min(o.callMs, firstWriteMs.get(written) ?? Infinity));
  }
  const steps = ops.map((o): Step => {
    const definite = o.outcome.kind !== "info";
    const result = (o.outcome.kind === "ok" ? o.outcome.result : {}) as { value?: unknown; version?: number; applied?: boolean };
    const kind: Kind = o.op === "read" && o.input.version !== undefined ? "readAt" : o.op;
    const step: Step = {
      kind,
      definite,
      callMs: o.callMs,
      returnMs: definite ? o.returnMs : Infinity,
      inVersion: o.input.version ?? -1,
      inValue: id(o.op === "write" ? o.input.value : o.input.newValue),
      inExpected: o.op === "updateIfValueIs" ? id(o.input.expected) : UNOBSERVED,
      out: o.outcome.kind === "fail" ? (o.outcome.error as "NOT_FOUND" | "VERSION_GONE") : "ok",
      outVersion: result.version ?? -1,
      outValue: o.op === "read" && o.outcome.kind === "ok" ? id(result.value) : UNOBSERVED,
      outApplied: result.applied ?? false,
      maxVersionBefore: Infinity,
      facts: [],
    };
    step.maxVersionBefore = definite ? maxVersionBefore(step, versionsMax) : Infinity;
    const unwritten = o.op === "read" && o.outcome.kind === "ok" && (firstWriteMs.get(step.outValue) ?? Infinity) > o.returnMs;
    if (unwritten) step.maxVersionBefore = -1;
    if (definite) step.facts = factsOf(step).filter((f) => f.version >= 1);
    return step;
  });
  // Each version is written once: two ops cannot both have written it, and what other results
  // say about its value must agree with the one that did. Checked here too, because the search
  // would only find out after trying every order of everything before that version.
  const producers = new Map<number, Step>();
  for (const s of [...steps].sort((a, b) => a.callMs - b.callMs)) {
    const wrote = s.kind === "write" || ((s.kind === "updateIfValueIs" || s.kind === "cas") && s.outApplied);
    if (!s.definite || s.out !== "ok" || !wrote) continue;
    if (producers.has(s.outVersion)) s.maxVersionBefore = -1;
    else producers.set(s.outVersion, s);
  }
  for (const s of steps) {
    for (const f of s.facts) {
      const producer = producers.get(f.version);
      if (producer !== undefined && producer !== s && (producer.inValue === f.valueId) !== f.equal) s.maxVersionBefore = -1;
    }
  }
  // An op that returned before another was called put the version at least somewhere; if that is
  // above the highest version the later op allows, the later op fits nowhere. Stale reads are the
  // common bug, and this sees them at once where the search would try every order first.
  const definite = steps.filter((s) => s.definite);
  const byReturn = [...definite].sort((a, b) => a.returnMs - b.returnMs);
  let seen = 0;
  let versionSeen = 0;
  for (const s of [...definite].sort((a, b) => a.callMs - b.callMs)) {
    while (seen < byReturn.length && byReturn[seen]!.returnMs < s.callMs) versionSeen = Math.max(versionSeen, minVersionAfter(byReturn[seen++]!, versionsMax));
    if (versionSeen > s.maxVersionBefore) s.maxVersionBefore = -1;
  }
  return steps;
}

function factsOf(s: Step): Fact[] {
  if (s.out !== "ok") return [];
  switch (s.kind) {
    case "read":
      return [{ version: s.outVersion, valueId: s.outValue, equal: true }];
    case "readAt":
      return [{ version: s.inVersion, valueId: s.outValue, equal: true }];
    case "write":
      return [{ version: s.outVersion, valueId: s.inValue, equal: true }];
    case "updateIfValueIs":
      if (!s.outApplied) return [{ version: s.outVersion, valueId: s.inExpected, equal: false }];
      return [
        { version: s.outVersion - 1, valueId: s.inExpected, equal: true },
        { version: s.outVersion, valueId: s.inValue, equal: true },
      ];
    case "cas":
      return s.outApplied ? [{ version: s.outVersion, valueId: s.inValue, equal: true }] : [];
  }
}

/** Lowest version the key can have just after a definite op took effect. */
function minVersionAfter(s: Step, versionsMax: number): number {
  if (s.out === "NOT_FOUND") return 0;
  if (s.out === "VERSION_GONE") return s.kind === "readAt" ? s.inVersion + versionsMax : 0;
  return s.kind === "readAt" ? s.inVersion : s.outVersion;
}

function maxVersionBefore(s: Step, versionsMax: number): number {
  const IMPOSSIBLE = -1;
  switch (s.kind) {
    case "read":
      return s.out === "ok" ? s.outVersion : s.out === "NOT_FOUND" ? 0 : IMPOSSIBLE; // VERSION_GONE without a version: no state says that
    case "readAt":
      if (s.out === "ok") return s.outVersion === s.inVersion ? s.inVersion + versionsMax - 1 : IMPOSSIBLE;
      return s.out === "NOT_FOUND" ? s.inVersion - 1 : Infinity; // VERSION_GONE bounds the version from below only
    case "write":
      return s.outVersion - 1;
    case "updateIfValueIs":
      return s.outApplied ? s.outVersion - 1 : s.outVersion;
    case "cas":
      if (s.outApplied) return s.outVersion === s.inVersion + 1 ? s.inVersion : IMPOSSIBLE;
      return s.outVersion === s.inVersion ? IMPOSSIBLE : s.outVersion;
  }
}

// ---------------------------------------------------------------------------------------------
// Model states, interned so that a state is its id

interface State {
  id: number;
  version: number;
  /** Value ids of versions version - window.length + 1 .. version. */
  window: readonly number[];
  /** Memoized transitions: value id written → next state. */
  next: Map<number, State>;
}

class States {
  readonly initial: State;
  private byKey = new Map<string, State>();

  constructor(private versionsMax: number) {
    this.initial = this.intern(0, []);
  }

  written(state: State, valueId: number): State {
    let next = state.next.get(valueId);
    if (next === undefined) {
      const window = state.window.slice(state.window.length === this.versionsMax ? 1 : 0);
      window.push(valueId);
      next = this.intern(state.version + 1, window);
      state.next.set(valueId, next);
    }
    return next;
  }

  private intern(version: number, window: number[]): State {
    const key = `${version}:${window.join(",")}`;
    let state = this.byKey.get(key);
    if (state === undefined) {
      state = { id: this.byKey.size, version, window, next: new Map() };
      this.byKey.set(key, state);
    }
    return state;
  }
}

function valueAt(state: State, version: number): number {
  return state.window[version - (state.version - state.window.length + 1)] ?? -1;
}

/** The state after op s, or null if s cannot take effect here with its recorded result (or, indefinite, would change nothing: then leaving it out is the same). */
function apply(states: States, state: State, s: Step, versionsMax: number): State | null {
  const v = state.version;
  switch (s.kind) {
    case "read":
      if (s.out === "ok") return v >= 1 && v === s.outVersion && valueAt(state, v) === s.outValue ? state : null;
      return s.out === "NOT_FOUND" && v === 0 ? state : null;
    case "readAt": {
      const gone = s.inVersion <= v - versionsMax;
      if (s.out === "ok") return s.inVersion <= v && !gone && s.outVersion === s.inVersion && valueAt(state, s.inVersion) === s.outValue ? state : null;
      return (s.out === "NOT_FOUND" ? s.inVersion > v : gone) ? state : null;
    }
    case "write":
      return !s.definite || s.outVersion === v + 1 ? states.written(state, s.inValue) : null;
    case "updateIfValueIs":
    case "cas": {
      const applied = s.kind === "cas" ? v === s.inVersion : v >= 1 && valueAt(state, v) === s.inExpected;
      if (s.definite && (applied !== s.outApplied || s.outVersion !== (applied ? v + 1 : v))) return null;
      if (applied) return states.written(state, s.inValue);
      return s.definite ? state : null;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The search

/**
 * The search's answer, and where the failure probably shows: stuckMs, the latest return it got
 * stuck at (every cut of the history before it is linearizable: the search got past it);
 * blockerMs, the latest return of an op whose result stopped the search from going on (it
 * capped the version or denied a value just written): a stale read far ahead stops the search
 * long before it returns.
 */
type Decision = { verdict: "ok" | "fail"; stuckMs: number; blockerMs: number } | { verdict: "unknown"; why: string };

/** Smallest-of-all query over per-op bounds, with point updates: the search asks it every step. */
class MinTree {
  private size = 1;
  private tree: Float64Array;

  constructor(values: number[]) {
    while (this.size < values.length) this.size *= 2;
    this.tree = new Float64Array(2 * this.size).fill(Infinity);
    values.forEach((v, i) => (this.tree[this.size + i] = v));
    for (let i = this.size - 1; i >= 1; i--) this.tree[i] = Math.min(this.tree[2 * i]!, this.tree[2 * i + 1]!);
  }

  set(index: number, value: number): void {
    let i = this.size + index;
    this.tree[i] = value;
    for (i >>= 1; i >= 1; i >>= 1) this.tree[i] = Math.min(this.tree[2 * i]!, this.tree[2 * i + 1]!);
  }

  min(): number {
    return this.tree[1]!;
  }

  /** An index holding the smallest value. */
  argmin(): number {
    let i = 1;
    while (i < this.size) i = this.tree[2 * i] === this.tree[i] ? 2 * i : 2 * i + 1;
    return i - this.size;
  }
}

/** Lowe's cache: the (linearized set, state) pairs already explored. */
class Memo {
  bytes = 0;
  private buckets = new Map<number, { stateId: number; bits: Uint32Array }[]>();

  /** Records the pair; false if it was already there. */
  add(hash: number, bits: Uint32Array, stateId: number): boolean {
    const bucket = this.buckets.get(hash);
    if (bucket === undefined) this.buckets.set(hash, [{ stateId, bits: bits.slice() }]);
    else if (bucket.some((e) => e.stateId === stateId && sameBits(e.bits, bits))) return false;
    else bucket.push({ stateId, bits: bits.slice() });
    this.bytes += bits.byteLength + MEMO_ENTRY_OVERHEAD_BYTES;
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A fixed pseudo-random 32-bit number per op (xorshift32), so that the linearized set's hash is updated by one xor per step and verdicts are reproducible. */
function zobristKeys(n: number): Uint32Array {
  const keys = new Uint32Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    keys[i] = x >>> 0;
  }
  return keys;
}

/** Whether the ops of one key are linearizable ("ok"), provably not ("fail"), or undecided within the deadline. */
function decide(ops: Operation[], versionsMax: number, deadlineMs: number): Decision {
  const steps = compile(ops, versionsMax);
  const n = steps.length;
  const states = new States(versionsMax);

  // Events: op i's call is node 2i, its return node 2i+1 (indefinite ops have none: they may be
  // linearized any time after their call, or never). Sorted by time, calls before returns at the
  // same instant (so those count as concurrent). Nodes HEAD and TAIL are sentinels.
  const HEAD = 2 * n;
  const TAIL = 2 * n + 1;
  const events: number[] = [];
  steps.forEach((s, i) => {
    events.push(2 * i);
    if (s.definite) events.push(2 * i + 1);
  });
  const timeOf = (e: number) => (e & 1 ? steps[e >> 1]!.returnMs : steps[e >> 1]!.callMs);
  events.sort((a, b) => timeOf(a) - timeOf(b) || (a & 1) - (b & 1) || a - b);
  const next = new Int32Array(2 * n + 2);
  const prev = new Int32Array(2 * n + 2);
  let last = HEAD;
  for (const e of [...events, TAIL]) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  const unlink = (e: number) => {
    next[prev[e]!] = next[e]!;
    prev[next[e]!] = prev[e]!;
  };
  const relink = (e: number) => {
    next[prev[e]!] = e;
    prev[next[e]!] = e;
  };

  // Indefinite ops with the same inputs are interchangeable once called: one may be linearized
  // only after the one called before it (any order using the later one first can swap them).
  const earlierTwin = new Int32Array(n).fill(-1);
  const lastOfClass = new Map<string, number>();
  const byCall = steps.map((_, i) => i).sort((a, b) => steps[a]!.callMs - steps[b]!.callMs || a - b);
  for (const i of byCall) {
    const s = steps[i]!;
    if (s.definite) continue;
    const cls = `${s.kind}|${s.inValue}|${s.inExpected}|${s.inVersion}`;
    earlierTwin[i] = lastOfClass.get(cls) ?? -1;
    lastOfClass.set(cls, i);
  }

  // The linearized set, as a bitset with an incrementally kept hash.
  const bits = new Uint32Array(Math.ceil(n / 32));
  const zobrist = zobristKeys(n);
  const memo = new Memo();
  let hash = 0;
  let state = states.initial;
  let definiteLeft = steps.filter((s) => s.definite).length;
  const isSet = (i: number) => (bits[i >> 5]! & (1 << (i & 31))) !== 0;
  const flip = (i: number) => {
    bits[i >> 5]! ^= 1 << (i & 31);
    hash ^= zobrist[i]!;
  };

  const bounds = new MinTree(steps.map((s) => s.maxVersionBefore));
  const factsAt = new Map<number, { op: number; fact: Fact }[]>(); // version → what the definite ops say about its value
  steps.forEach((s, op) => {
    for (const fact of s.facts) {
      const at = factsAt.get(fact.version) ?? [];
      at.push({ op, fact });
      factsAt.set(fact.version, at);
    }
  });
  /** An unlinearized op whose result says otherwise about the value of a version just written, or -1. */
  const contradicted = (after: State): number => {
    for (const { op, fact } of factsAt.get(after.version) ?? []) {
      if (!isSet(op) && (after.window[after.window.length - 1] === fact.valueId) !== fact.equal) return op;
    }
    return -1;
  };

  // The ops that may go next: every call before the first pending return. Definite ones first,
  // in call order; then indefinite ones, latest call first: an op usually takes effect soon
  // after its call, and one called long ago and never seen most likely never happened. (Any
  // order is complete; this one finds a linearization of a real history without wandering.)
  let firstReturnMs = Infinity;
  const candidates = (): number[] => {
    const definite: number[] = [];
    const indefinite: number[] = [];
    let e = next[HEAD]!;
    for (; (e & 1) === 0; e = next[e]!) (steps[e >> 1]!.definite ? definite : indefinite).push(e >> 1);
    firstReturnMs = e === TAIL ? Infinity : steps[e >> 1]!.returnMs;
    return definite.concat(indefinite.reverse());
  };
  /** A configuration left to try one of its candidates: resumed when that choice fails. */
  const stack: { tried: number[]; at: number; firstReturnMs: number; op: number; state: State }[] = [];
  let tried = candidates();
  let at = 0;
  let stuckMs = -Infinity;
  let blockerMs = -Infinity;
  for (let stepCount = 0; ; stepCount++) {
    if (definiteLeft === 0) return { verdict: "ok", stuckMs, blockerMs }; // the indefinite ops left may never have happened
    if ((stepCount & (STEPS_PER_CLOCK_CHECK - 1)) === 0 && performance.now() >= deadlineMs) return { verdict: "unknown", why: `search budget spent after ${stepCount} steps` };
    if (memo.bytes > MEMO_BYTES_MAX) return { verdict: "unknown", why: `search memo passed ${MEMO_BYTES_MAX} bytes after ${stepCount} steps` };
    if (at < tried.length) {
      // Try to linearize the next candidate now.
      const i = tried[at++]!;
      const s = steps[i]!;
      const twin = earlierTwin[i]!;
      const after = twin < 0 || isSet(twin) ? apply(states, state, s, versionsMax) : null;
      if (after === null) continue;
      flip(i);
      if (s.definite) bounds.set(i, Infinity);
      // Versions never go down: past some pending op's highest possible version, nothing can follow.
      // Nor are versions rewritten: a value some pending op's result denies, nothing can follow.
      let blocker = after.version > bounds.min() ? bounds.argmin() : -1;
      if (blocker < 0 && after !== state) blocker = contradicted(after);
      if (blocker >= 0) blockerMs = Math.max(blockerMs, steps[blocker]!.returnMs);
      if (blocker < 0 && memo.add((hash ^ Math.imul(after.id + 1, 0x9e3779b1)) >>> 0, bits, after.id)) {
        stack.push({ tried, at, firstReturnMs, op: i, state });
        state = after;
        unlink(2 * i);
        if (s.definite) {
          unlink(2 * i + 1);
          definiteLeft--;
        }
        tried = candidates();
        at = 0;
        continue;
      }
      flip(i);
      if (s.definite) bounds.set(i, s.maxVersionBefore);
    } else {
      // No candidate works: the op of the first pending return cannot be linearized in time.
      stuckMs = Math.max(stuckMs, firstReturnMs);
      const frame = stack.pop();
      if (frame === undefined) return { verdict: "fail", stuckMs, blockerMs };
      const j = frame.op;
      const sj = steps[j]!;
      if (sj.definite) {
        relink(2 * j + 1);
        bounds.set(j, sj.maxVersionBefore);
        definiteLeft++;
      }
      relink(2 * j);
      flip(j);
      state = frame.state;
      ({ tried, at, firstReturnMs } = frame);
    }
  }
}
