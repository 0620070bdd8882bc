/** WHATWG Headers: case-insensitive, order-preserving, Set-Cookie kept apart. */
const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export type HeadersInitLike = Headers | Array<[string, string]> | Record<string, string> | Iterable<Iterable<string>>;

export class Headers {
  #map = new Map<string, string>();
  #cookies: string[] = [];

  constructor(init?: HeadersInitLike | null) {
    if (init == null) return;
    if (init instanceof Headers) {
      for (const [k, v] of init.#map) this.#map.set(k, v);
      this.#cookies = [...init.#cookies];
    } else if (typeof (init as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<Iterable<string>>) {
        const p = [...pair];
        if (p.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
        this.append(p[0]!, p[1]!);
      }
    } else for (const [k, v] of Object.entries(init)) this.append(k, v);
  }

  append(name: string, value: string): void {
    const k = checkName(name);
    const v = normalize(value);
    if (k === "set-cookie") this.#cookies.push(v);
    else {
      const prev = this.#map.get(k);
      this.#map.set(k, prev === undefined ? v : `${prev}, ${v}`);
    }
  }
  set(name: string, value: string): void {
    const k = checkName(name);
    if (k === "set-cookie") this.#cookies = [normalize(value)];
    else this.#map.set(k, normalize(value));
  }
  get(name: string): string | null {
    const k = checkName(name);
    if (k === "set-cookie") return this.#cookies.length ? this.#cookies.join(", ") : null;
    return this.#map.get(k) ?? null;
  }
  getSetCookie(): string[] { return [...this.#cookies]; }
  has(name: string): boolean {
    const k = checkName(name);
    return k === "set-cookie" ? this.#cookies.length > 0 : this.#map.has(k);
  }
  delete(name: string): void {
    const k = checkName(name);
    if (k === "set-cookie") this.#cookies = [];
    else this.#map.delete(k);
  }
  forEach(cb: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
  *entries(): IterableIterator<[string, string]> {
    const names = [...this.#map.keys()];
    if (this.#cookies.length) names.push("set-cookie");
    for (const k of names.sort()) {
      if (k === "set-cookie") for (const c of this.#cookies) yield [k, c];
      else yield [k, this.#map.get(k)!];
    }
  }
  *keys(): IterableIterator<string> { for (const [k] of this.entries()) yield k; }
  *values(): IterableIterator<string> { for (const [, v] of this.entries()) yield v; }
  [Symbol.iterator](): IterableIterator<[string, string]> { return this.entries(); }
}

function checkName(name: string): string {
  const s = String(name);
  if (!NAME.test(s)) throw new TypeError(`Headers: invalid header name "${s}"`);
  return s.toLowerCase();
}

function normalize(value: string): string {
  const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
  if (/[\0\r\n]/.test(v)) throw new TypeError("Headers: invalid header value");
  return v;
}
