/**
 * WAL positions (LSNs) as PostgreSQL prints them (`16/B374D848`: the high and low 32 bits in
 * hex), and read-your-writes tokens, which are such positions. Compared as bigints: the text
 * form does not sort.
 */

/** A WAL position as a number of bytes, or undefined when `text` is not an LSN. */
export function parseLsn(text: unknown): bigint | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (match === null) return undefined;
  return (BigInt(`0x${match[1]!}`) << 32n) | BigInt(`0x${match[2]!}`);
}

/** The text form of a WAL position. */
export function formatLsn(lsn: bigint): string {
  const high = (lsn >> 32n).toString(16).toUpperCase();
  const low = (lsn & 0xffffffffn).toString(16).toUpperCase();
  return `${high}/${low}`;
}

/** The later of two positions (undefined counts as "none yet"). */
export function laterLsn(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}
