// The InsultFilter seed's workload: texts of ~85 bytes go to a work queue; one worker process
// replaces insults with CENSORED and replies to the client's reply queue; the client keeps W
// requests in flight and measures throughput and round-trip latency.

import { seededRandom } from "../src/seeded_random.ts";

export const INSULTS = ["dimwit", "nincompoop", "goose", "numbskull", "dunce", "buffoon"];
const INSULT_RE = new RegExp(`\\b(${INSULTS.join("|")})\\b`, "g");

export function censor(text: string): string {
  return text.replace(INSULT_RE, "CENSORED");
}

/** Deterministic texts of 80–90 bytes, about half with an insult. */
export function makeTexts(count = 1024): string[] {
  const words = ["the", "weather", "is", "nice", "today", "and", "you", "are", "a", "real", "friend", "of", "mine", "said", "everybody", "at", "lunch"];
  const rand = seededRandom(42);
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    let text = "";
    while (text.length < 80) text += (rand(3) === 0 ? INSULTS[rand(INSULTS.length)] : words[rand(words.length)]) + " ";
    texts.push(text.slice(0, 85).trim());
  }
  return texts;
}

/** What a system's client side must provide to the driver. */
export interface WorkloadClient {
  /** Send request `seq` carrying `text`; the reply must come back through the onReply given at connect. */
  send(seq: number, text: string): void;
  close(): Promise<void>;
}

export interface WorkloadResult {
  messages: number;
  window: number;
  seconds: number;
  msgPerSec: number;
  p50Us: number;
  p99Us: number;
}

/** Run N requests with W in flight; `connect` gets the reply callback. Shows a live status line. */
export async function drive(
  label: string,
  messages: number,
  window: number,
  connect: (onReply: (seq: number, reply: string) => void) => Promise<WorkloadClient>,
): Promise<WorkloadResult> {
  const texts = makeTexts();
  const sentAt = new Float64Array(messages);
  const rtt = new Float64Array(messages);
  let sent = 0;
  let received = 0;
  let badReplies = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const client = await connect((seq, reply) => {
    if (!reply.includes("CENSORED") && INSULTS.some((w) => texts[seq % texts.length]!.includes(w))) badReplies++;
    rtt[received++] = performance.now() - sentAt[seq]!;
    if (sent < messages) sendOne();
    if (received === messages) finish();
  });
  const sendOne = (): void => {
    const seq = sent++;
    sentAt[seq] = performance.now();
    client.send(seq, texts[seq % texts.length]!);
  };
  const status = setInterval(() => {
    process.stderr.write(`\r  ${label}: ${received.toLocaleString()}/${messages.toLocaleString()} replies   `);
  }, 250);
  const started = performance.now();
  for (let i = 0; i < Math.min(window, messages); i++) sendOne();
  const timeout = setTimeout(() => finish(), 120_000);
  await done;
  clearTimeout(timeout);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(status);
  process.stderr.write("\r" + " ".repeat(70) + "\r");
  await client.close();
  if (received < messages) throw new Error(`${label}: only ${received}/${messages} replies within 120 s`);
  if (badReplies > 0) throw new Error(`${label}: ${badReplies} replies were not censored`);
  const sorted = rtt.slice(0, received).sort();
  return {
    messages,
    window,
    seconds,
    msgPerSec: messages / seconds,
    p50Us: sorted[Math.floor(received * 0.5)]! * 1000,
    p99Us: sorted[Math.floor(received * 0.99)]! * 1000,
  };
}
