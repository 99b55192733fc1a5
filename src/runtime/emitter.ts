// A minimal typed event emitter: roles subscribe to runtime events (peer ready, closed, dead).

export class Emitter<Events extends Record<string, unknown[]>> {
  private readonly listeners: { [K in keyof Events]?: Array<(...args: Events[K]) => void> } = {};

  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    (this.listeners[event] ??= []).push(listener);
    return () => {
      const list = this.listeners[event];
      if (list) list.splice(list.indexOf(listener) >>> 0, 1);
    };
  }

  once<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void {
    const off = this.on(event, (...args) => {
      off();
      listener(...args);
    });
    return off;
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    const list = this.listeners[event];
    if (list) for (const listener of [...list]) listener(...args);
  }
}
