/**
 * What a request carried beyond the fields the tracker reads itself, for the
 * edge's hooks (a passkey in the path, a token in the query, a client's own
 * keys): the path it was sent to and the parameters the tracker does not
 * know. Views are read lazily, when a hook asks; a request that carried
 * nothing extra shares one constant view instead of allocating its own.
 * They stay on the edge: hooks run there, and swarms never see them.
 */
export interface RequestParams {
  /**
   * Where the request was sent, as sent (not percent-decoded): the HTTP path,
   * the path part of UDP's BEP 41 URL data, the WebSocket's upgrade path; ''
   * when the request had none (UDP without URL data).
   */
  readonly path: string;
  /**
   * The first value of the parameter `name` among those the tracker does not
   * read itself, or undefined. Query parameters (HTTP, UDP URL data) are
   * percent-decoded, one char per byte (latin1, like ids), and compared
   * decoded; WebTorrent's extra JSON keys give strings as they are and other
   * values as JSON text.
   */
  get(name: string): string | undefined;
  /** Every such parameter, in request order. */
  entries(): [name: string, value: string][];
}

/** A path and no parameters the tracker does not read. */
export class PathOnly implements RequestParams {
  constructor(readonly path: string) {
    Object.freeze(this);
  }

  get(): undefined {
    return undefined;
  }

  entries(): [string, string][] {
    return [];
  }
}

/** A request that carried no path and nothing the tracker does not read. */
export const NO_PARAMS: RequestParams = new PathOnly('');
