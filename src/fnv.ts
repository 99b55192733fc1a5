// FNV-1a (32-bit) of a string's UTF-8 bytes, made on the fly (no encoder, no allocation): the
// stable hash MapReduce partitions keys with and storage shards them with, the same on every
// machine.

const PRIME = 0x01000193;

export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      hash = Math.imul(hash ^ c, PRIME);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate is U+FFFD in UTF-8, as TextEncoder makes it
    if (c < 0x800) {
      hash = Math.imul(hash ^ (0xc0 | (c >> 6)), PRIME);
      hash = Math.imul(hash ^ (0x80 | (c & 0x3f)), PRIME);
    } else if (c < 0x10000) {
      hash = Math.imul(hash ^ (0xe0 | (c >> 12)), PRIME);
      hash = Math.imul(hash ^ (0x80 | ((c >> 6) & 0x3f)), PRIME);
      hash = Math.imul(hash ^ (0x80 | (c & 0x3f)), PRIME);
    } else {
      hash = Math.imul(hash ^ (0xf0 | (c >> 18)), PRIME);
      hash = Math.imul(hash ^ (0x80 | ((c >> 12) & 0x3f)), PRIME);
      hash = Math.imul(hash ^ (0x80 | ((c >> 6) & 0x3f)), PRIME);
      hash = Math.imul(hash ^ (0x80 | (c & 0x3f)), PRIME);
    }
  }
  return hash >>> 0;
}
