// Goal: decodeBody accepts exactly well-formed envelopes and classifies everything else with a
// stable error name. Method: hand-made and random bodies.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { encodeCopy } from "../../src/wire/msgpack.ts";
import { PeerError } from "../../src/errors.ts";
import { decodeBody, encodeFrame } from "../../src/wire/codec.ts";

const packr = new Packr({ useRecords: false });
const body = (value: unknown): Uint8Array => packr.pack(value);

function errorName(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof PeerError ? err.name : `not a PeerError: ${err}`;
  }
}

function reOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return (err as PeerError).re;
  }
  throw new Error("did not throw");
}

describe("codec", () => {
  test("round trip of a message with nested values", () => {
    const message = { op: "publish", id: 7, queue: "q", body: new Uint8Array([1, 2, 3]), tags: ["a"], n: 2 ** 40 };
    const frame = encodeFrame(message);
    expect(new DataView(frame.buffer).getUint32(0)).toBe(frame.length - 4);
    const decoded = decodeBody(frame.subarray(4));
    expect(decoded.op).toBe("publish");
    expect(decoded.n).toBe(2 ** 40);
    expect(new Uint8Array(decoded.body as Uint8Array)).toEqual(new Uint8Array([1, 2, 3]));
  });

  test("bad bodies get stable error names", () => {
    expect(errorName(() => decodeBody(new Uint8Array(0)))).toBe("MALFORMED_FRAME");
    expect(errorName(() => decodeBody(new Uint8Array([0x85])))).toBe("MALFORMED_FRAME");
    expect(errorName(() => decodeBody(new Uint8Array([0xd4, 0x05, 0x01])))).toBe("BAD_ENVELOPE"); // valid msgpack (an ext), not a map
    expect(errorName(() => decodeBody(new Uint8Array([...body({ op: "x" }), 0x01])))).toBe("MALFORMED_FRAME");
    expect(errorName(() => decodeBody(new Uint8Array([0xc1])))).toBe("MALFORMED_FRAME");
    expect(errorName(() => decodeBody(new Uint8Array([0x81, 0xa2, 0x6f, 0x70, 0xc1])))).toBe("MALFORMED_FRAME");
    expect(errorName(() => decodeBody(body([1, 2])))).toBe("BAD_ENVELOPE");
    expect(errorName(() => decodeBody(body("hello")))).toBe("BAD_ENVELOPE");
    expect(errorName(() => decodeBody(body({ id: 1 })))).toBe("BAD_ENVELOPE");
    expect(errorName(() => decodeBody(body({ op: 3 })))).toBe("BAD_ENVELOPE");
    expect(errorName(() => decodeBody(body({ op: "" })))).toBe("BAD_ENVELOPE");
    expect(errorName(() => decodeBody(body({ op: "x", id: -1 })))).toBe("BAD_ENVELOPE");
    expect(errorName(() => decodeBody(body({ op: "x", id: 1.5 })))).toBe("BAD_ENVELOPE");
    expect(errorName(() => decodeBody(body({ op: "x", id: "1" })))).toBe("BAD_ENVELOPE");
    expect(errorName(() => decodeBody(body({ op: "ping", id: 1 })))).toBeNull();
  });

  test("ids are integers in any msgpack width; a bad one, or an unsupported value, names the request when its id is readable", () => {
    // {op: "ping", id: 6} with the id as a uint64: valid msgpack, so a valid id.
    expect(decodeBody(new Uint8Array([0x82, 0xa2, 0x6f, 0x70, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x69, 0x64, 0xcf, 0, 0, 0, 0, 0, 0, 0, 6])).id).toBe(6);
    expect(decodeBody(encodeCopy({ op: "x", id: 2 ** 40 })).id).toBe(2 ** 40);
    const withExt = (): unknown => decodeBody(new Uint8Array([0x83, 0xa2, 0x6f, 0x70, 0xa1, 0x78, 0xa2, 0x69, 0x64, 0x07, 0xa4, 0x62, 0x6f, 0x64, 0x79, 0xd4, 0x05, 0x01]));
    expect(errorName(withExt)).toBe("BAD_ARGUMENT");
    expect(reOf(withExt)).toBe(7);
    expect(reOf(() => decodeBody(body({ op: 3, id: 9 })))).toBe(9);
    expect(reOf(() => decodeBody(body({ op: "x", id: -1 })))).toBeUndefined();
  });

  test("a __proto__ key cannot pollute prototypes", () => {
    const decoded = decodeBody(body(JSON.parse('{"op":"x","__proto__":{"polluted":true}}')));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((decoded as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("fuzz: random bytes never throw anything but PeerError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const name = errorName(() => decodeBody(bytes));
        expect(name === null || name === "MALFORMED_FRAME" || name === "BAD_ENVELOPE").toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
