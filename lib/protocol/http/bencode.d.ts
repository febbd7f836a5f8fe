// The npm `bencode` package ships no types. The HTTP client's half decodes
// replies with it, and tests use it as the independent, standard decoder.
declare module 'bencode' {
  const bencode: {
    encode(value: unknown): Uint8Array;
    decode(data: Uint8Array, start?: number, end?: number, encoding?: string): unknown;
  };
  export default bencode;
}
