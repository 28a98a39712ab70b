/**
 * Seeded, order-independent randomness: every draw is a pure function of (seed, key), so a resource's
 * timings do not depend on the order in which requests happen to arrive. Same scenario, same run.
 */

/** cyrb53-style 32-bit string hash. */
export function hashString(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h1 ^ h2) >>> 0;
}

/** The mulberry32 generator: a tiny PRNG with good enough spread for simulated durations. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A generator for this seed and key. */
export function rng(seed: number, key: string): () => number {
  return mulberry32(hashString(`${seed}:${key}`));
}

/** A number in [min, max] for this seed and key, rounded to milliseconds. */
export function drawBetween(range: readonly [number, number], seed: number, key: string): number {
  const [min, max] = range;
  return Math.round((min + rng(seed, key)() * (max - min)) * 1000) / 1000;
}

/** A version-4-shaped UUID for this seed and key. */
export function seededUuid(seed: number, key: string): string {
  const next = rng(seed, key);
  const hex = Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** `length` lowercase hex/alnum characters for this seed and key (generated ids). */
export function seededToken(
  seed: number,
  key: string,
  length: number,
  alphabet = '0123456789abcdef',
): string {
  const next = rng(seed, key);
  return Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
}
