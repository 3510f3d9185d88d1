/**
 * Stable names for clients: the first client seen in a run is `c1`, the next `c2`, and so on.
 * Two implementations hand out different objects, but if they behave alike, the same client
 * shows up at the same moment in both logs and gets the same label.
 */
export class ClientLabels {
  readonly #labels = new WeakMap<object, string>();
  #next = 1;

  of(client: object): string {
    let label = this.#labels.get(client);
    if (label === undefined) {
      label = `c${this.#next++}`;
      this.#labels.set(client, label);
    }
    return label;
  }
}
