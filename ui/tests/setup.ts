// jsdom has no layout: give Svelte's size bindings a ResizeObserver that never fires.
class NoLayoutResizeObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
}

if (!('ResizeObserver' in globalThis)) {
  (globalThis as unknown as { ResizeObserver: typeof NoLayoutResizeObserver }).ResizeObserver = NoLayoutResizeObserver;
}
