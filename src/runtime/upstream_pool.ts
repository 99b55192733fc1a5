// Connections to several nodes by address, each made on first use and forgotten when it is lost
// or fails to connect (the next use makes a new one): one Upstream per address, all with the same
// options but the address. A reducer's links to the workers holding map outputs, a storage
// client's links to the storage nodes.

import { Upstream, type UpstreamOptions } from "./upstream.ts";

export class UpstreamPool {
  private readonly links = new Map<string, Promise<Upstream>>();

  constructor(private readonly options: Omit<UpstreamOptions, "addresses">) {}

  /** The connection to `address`, connected (or the connect failure, and then it is forgotten). */
  get(address: string): Promise<Upstream> {
    let link = this.links.get(address);
    if (link === undefined) {
      const upstream = new Upstream({ ...this.options, addresses: [address] });
      upstream.on("lost", () => this.links.delete(address));
      link = upstream.connect().then(() => upstream);
      link.catch(() => this.links.delete(address));
      this.links.set(address, link);
    }
    return link;
  }

  /** Close and forget the connection to `address` (the next get makes a new one). */
  drop(address: string): void {
    const link = this.links.get(address);
    this.links.delete(address);
    link?.then((u) => u.close()).catch(() => {});
  }

  async close(): Promise<void> {
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.allSettled(links.map(async (l) => (await l).close()));
  }
}
