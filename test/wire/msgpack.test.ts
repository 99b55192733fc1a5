// Goal: our msgpack codec is standard msgpack with exact integers up to ±2^53 in every encoding,
// refuses what it does not carry with a precise error, and never throws anything unexpected on
// hostile input. Method: exact bytes at every integer boundary; msgpackr as an independent
// reference in both directions on random values; random and truncated bytes.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Packr, Unpackr } from "msgpackr";
import { limits } from "../../src/limits.ts";
import { Decoder, decode, encode, encodeCopy, Ext, MalformedError, Raw } from "../../src/wire/msgpack.ts";

const reference = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });
const referenceDecoder = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" } as ConstructorParameters<typeof Unpackr>[0]);
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s/g, ""), "hex"));

/** Values our wire carries: JSON-like plus binary, integers within ±2^53, finite floats. */
const wireValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie("value"), { maxLength: 6 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== "__proto__"), tie("value"), { maxKeys: 6 }),
  ),
})).value;

describe("msgpack encoding", () => {
  test("integers take the smallest integer format at every boundary, up to ±2^53", () => {
    const cases: Array<[number, string]> = [
      [0, "00"], [127, "7f"], [128, "cc80"], [255, "ccff"], [256, "cd0100"], [65535, "cdffff"],
      [65536, "ce00010000"], [2 ** 32 - 1, "ceffffffff"], [2 ** 32, "cf0000000100000000"],
      [2 ** 32 + 8, "cf0000000100000008"], [2 ** 53 - 1, "cf001fffffffffffff"],
      [-1, "ff"], [-32, "e0"], [-33, "d0df"], [-128, "d080"], [-129, "d1ff7f"], [-32768, "d18000"],
      [-32769, "d2ffff7fff"], [-(2 ** 31), "d280000000"], [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
      [-(2 ** 53) + 1, "d3ffe0000000000001"],
    ];
    for (const [n, bytes] of cases) {
      expect(hex(encode(n))).toBe(bytes);
      expect(decode(fromHex(bytes))).toBe(n);
    }
  });

  test("floats are float64; strings and binary use the smallest header", () => {
    expect(hex(encode(1.5))).toBe("cb3ff8000000000000");
    expect(hex(encode("a".repeat(31)))).toBe("bf" + "61".repeat(31));
    expect(hex(encode("a".repeat(32)).subarray(0, 2))).toBe("d920");
    expect(hex(encode("é".repeat(20)).subarray(0, 2))).toBe("d928"); // 40 bytes of UTF-8
    expect(hex(encode("x".repeat(300)).subarray(0, 3))).toBe("da012c");
    expect(hex(encode(new Uint8Array([1, 2])))).toBe("c4020102");
  });

  test("undefined properties are left out; Raw bytes are spliced verbatim", () => {
    expect(decode(encode({ a: 1, b: undefined }))).toEqual({ a: 1 });
    const inner = encodeCopy({ deep: [1, "two"] });
    expect(decode(encode({ op: "x", body: new Raw(inner) }))).toEqual({ op: "x", body: { deep: [1, "two"] } });
  });

  test("values msgpack cannot carry are TypeErrors, including cycles", () => {
    expect(() => encode(() => 1)).toThrow(TypeError);
    expect(() => encode(Symbol("s"))).toThrow(TypeError);
    expect(() => encode(2n ** 64n)).toThrow(TypeError); // past 64 bits
    expect(Buffer.from(encode(2n ** 60n)).toString("hex")).toBe("cf1000000000000000"); // a 64-bit BigInt is exact
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encode(cyclic)).toThrow(/nested deeper/);
  });

  test("random values: msgpackr reads what we write", () => {
    fc.assert(fc.property(wireValue, (value) => {
      expect(referenceDecoder.unpack(encodeCopy(value))).toEqual(value as never);
    }), { numRuns: 2000 });
  });
});

describe("msgpack decoding", () => {
  test("random values: we read what msgpackr writes, and our own round trip is exact", () => {
    fc.assert(fc.property(wireValue, (value) => {
      expect(decode(reference.pack(value))).toEqual(value as never);
      expect(decode(encodeCopy(value))).toEqual(value as never);
    }), { numRuns: 2000 });
  });

  test("a uint64- or int64-encoded small integer is that integer", () => {
    expect(decode(fromHex("cf0000000000000006"))).toBe(6);
    expect(decode(fromHex("d3fffffffffffffffa"))).toBe(-6);
    expect(decode(fromHex("cf0000010000000000"))).toBe(2 ** 40);
    expect(decode(fromHex("ca3fc00000"))).toBe(1.5); // float32
  });

  test("lenient (a client reading payloads): an extension value is an Ext, an integer past 2^53 a BigInt, and both encode back exactly", () => {
    const bytes = fromHex("93 d4 05 01 cf ffffffffffffffff d3 8000000000000000");
    const value = new Decoder().decode(bytes, undefined, true);
    expect(value).toEqual([new Ext(5, new Uint8Array([1])), 2n ** 64n - 1n, -(2n ** 63n)]);
    expect(hex(encode(value))).toBe(hex(bytes));
  });

  test("a payload plan keeps the named fields as their exact bytes (nil stays nil), checked but not decoded", () => {
    const plan = { fields: { body: true, list: { each: { items: { 1: true } } } } } as const;
    const bytes = encodeCopy({ op: "x", body: { deep: [1.5, "two"] }, list: [["a", 2 ** 40], ["b", null]], other: 3 });
    const value = new Decoder().decode(bytes, plan) as Record<string, unknown>;
    expect(value.body).toBeInstanceOf(Raw);
    expect(decode((value.body as Raw).bytes)).toEqual({ deep: [1.5, "two"] });
    expect((value.list as unknown[][])[0]![0]).toBe("a");
    expect(hex(((value.list as unknown[][])[0]![1] as Raw).bytes)).toBe("cf0000010000000000");
    expect((value.list as unknown[][])[1]![1]).toBeNull();
    expect(hex(encode(value))).toBe(hex(bytes)); // written back verbatim
    expect(() => new Decoder().decode(fromHex("81 a4 626f6479 c1"), plan)).toThrow(MalformedError); // still checked
  });

  test("valid msgpack we do not accept decodes as undefined with the reason (the envelope stays readable)", () => {
    const decoder = new Decoder();
    const withExt = fromHex("83 a2 6f70 a178 a2 6964 05 a4 626f6479 d40501"); // {op: "x", id: 5, body: fixext1}
    expect(decoder.decode(withExt)).toEqual({ op: "x", id: 5, body: undefined });
    expect(decoder.unsupported).toMatch(/extension type 5/);
    decoder.decode(fromHex("cf0020000000000000"));
    expect(decoder.unsupported).toMatch(/beyond 2\^53/);
    decoder.decode(fromHex("81 c3 01")); // a map with a boolean key
    expect(decoder.unsupported).toMatch(/map key/);
    expect(() => decode(withExt)).toThrow(TypeError);
  });

  test("input that is not msgpack is MalformedError: 0xc1, cut short, trailing bytes, empty", () => {
    for (const bad of ["c1", "", "92 01", "d9 05 6162", "cf 00 00", "81 a1 61", "01 02", "dd ffffffff"]) {
      expect(() => decode(fromHex(bad))).toThrow(MalformedError);
    }
  });

  test("nesting deeper than msgpackDepthMax is MalformedError, not a stack overflow", () => {
    const deep = new Uint8Array(limits.msgpackDepthMax + 10).fill(0x91);
    const bytes = new Uint8Array([...deep, 0x00]);
    expect(() => decode(bytes)).toThrow(MalformedError);
    const ok = new Uint8Array([...new Uint8Array(limits.msgpackDepthMax - 1).fill(0x91), 0x00]);
    expect(() => decode(ok)).not.toThrow();
  });

  test("a __proto__ key stays data and pollutes nothing", () => {
    const decoded = decode(reference.pack(JSON.parse('{"op":"x","__proto__":{"polluted":true}}'))) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(decoded.polluted).toBeUndefined();
    expect(Object.keys(decoded)).toEqual(["op", "__proto__"]);
  });

  test("fuzz: random bytes decode, or throw MalformedError, nothing else; skip() agrees with decode()", () => {
    const decoder = new Decoder();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      let decoded = true;
      try {
        decoder.decode(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(MalformedError);
        decoded = false;
      }
      if (decoded) expect(new Decoder().skip(bytes, 0)).toBe(bytes.length);
    }), { numRuns: 5000 });
  });

  test("skip() finds the end of every random value inside a larger buffer", () => {
    fc.assert(fc.property(wireValue, fc.uint8Array({ maxLength: 5 }), (value, tail) => {
      const bytes = encodeCopy(value);
      const joined = new Uint8Array([...bytes, ...tail]);
      expect(new Decoder().skip(joined, 0)).toBe(bytes.length);
    }), { numRuns: 1000 });
  });
});
