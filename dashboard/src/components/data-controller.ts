// Subscribes an element to FleetData topics while it is connected (and only then), and asks it to
// re-render when they change. Re-renders are coalesced to one per animation frame, so a burst of
// device deltas costs one render.
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { FleetData, Topic, TopicDetail } from '../data/fleet-data.ts';

export class DataController implements ReactiveController {
  #unsubscribe: (() => void) | undefined;
  #frame = 0;

  constructor(
    private readonly host: ReactiveControllerHost & { data?: FleetData },
    private readonly topics: readonly Topic[],
    private readonly onChange?: (topic: Topic, detail: TopicDetail) => void,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.#subscribe();
  }

  hostUpdate(): void {
    // `data` may be set after connection.
    if (!this.#unsubscribe) this.#subscribe();
  }

  hostDisconnected(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#frame) cancelAnimationFrame(this.#frame);
    this.#frame = 0;
  }

  #subscribe(): void {
    const data = this.host.data;
    if (!data) return;
    const unsubs = this.topics.map((topic) =>
      data.subscribe(topic, (detail) => {
        this.onChange?.(topic, detail);
        if (!this.#frame) {
          this.#frame = requestAnimationFrame(() => {
            this.#frame = 0;
            this.host.requestUpdate();
          });
        }
      }),
    );
    this.#unsubscribe = () => unsubs.forEach((u) => u());
  }
}
