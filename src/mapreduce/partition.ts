// Which reduce task owns a key: FNV-1a (32-bit) of its UTF-8 bytes, mod R. Stable across processes
// and machines, so every worker and the sequential run agree.

import { fnv1a32 } from "../fnv.ts";

export { fnv1a32 };

export function partitionOf(key: string, reduces: number): number {
  return fnv1a32(key) % reduces;
}
