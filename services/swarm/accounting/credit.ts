/**
 * Credited bytes from raw bytes: raw x user multiplier x torrent multiplier
 * (the torrent's already includes its group's, and is 0 for download under
 * group or global freeleech: lib/private/catalog/catalog.ts). Fractions of a
 * byte are dropped, as kuroneko does.
 */
export function credited(raw: number, userMultiplier: number, torrentMultiplier: number): number {
  if (raw <= 0 || userMultiplier <= 0 || torrentMultiplier <= 0) return 0;
  return Math.floor(raw * userMultiplier * torrentMultiplier);
}
