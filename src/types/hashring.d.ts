// The part of hashring's API (3rd-Eden, no bundled types) that placement.ts uses.
declare module "hashring" {
  export default class HashRing {
    constructor(servers: string[] | Record<string, unknown>, algorithm?: string, options?: Record<string, unknown>);
    get(key: string): string;
    range(key: string, size?: number, unique?: boolean): string[];
    add(servers: string | string[]): this;
    remove(server: string): this;
  }
}
