// Which reduce task owns a key: FNV-1a (32-bit) of its UTF-8 bytes, mod R. Stable across processes
// and machines, so every worker and the sequential run agree.

const encoder = new TextEncoder();

export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function partitionOf(key: string, reduces: number): number {
  return fnv1a32(key) % reduces;
}
