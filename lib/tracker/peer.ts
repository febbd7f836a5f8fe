/**
 * A UDP/HTTP peer is its compact endpoint: the address bytes followed by the
 * port, big-endian, as BEP 23 and BEP 7 put peers on the wire. The store
 * keys peers by it and replies concatenate them, so the same bytes go from
 * the announce to the reply without being converted.
 */

/** Length of a compact IPv4 endpoint (4 address bytes + 2 port bytes, big-endian). */
export const COMPACT_V4_LENGTH = 6;
/** Length of a compact IPv6 endpoint (16 address bytes + 2 port bytes, big-endian). */
export const COMPACT_V6_LENGTH = 18;
