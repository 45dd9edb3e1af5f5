/*
 * relay/session/address-memo - keep the results of a pure function of a client address.
 *
 * The same client address is turned into text (relay/common/addresses.ts) at connect
 * (rate-limit source key) and for every message (Received header literal, anti-spam client-ip,
 * message rate keys), each a parse and a string built; a relay sees few distinct clients at a
 * time, so the results are kept. At most
 * `max` entries: when full, the whole map is dropped and refilled (no LRU bookkeeping per
 * hit). Only for functions whose result depends on the key alone and is never mutated.
 */

export function memoizeByAddress<T extends string | number | boolean | object>(fn: (address: string) => T, max = 1024): (address: string) => T {
  const cache = new Map<string, T>();
  return (address) => {
    let value = cache.get(address);
    if (value === undefined) {
      value = fn(address);
      if (cache.size >= max) cache.clear();
      cache.set(address, value);
    }
    return value;
  };
}
