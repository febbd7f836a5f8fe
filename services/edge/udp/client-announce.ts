import type { ClientAnnounce } from '../../../lib/tracker/announce.js';
import { compactEndpoint } from '../../../lib/net/ip.js';
import { maxPeersForDatagram, UDP_SAFE_PAYLOAD, type UdpAnnounceRequest } from '../../../lib/protocol/udp/server.js';

/**
 * The announce a UDP datagram asks the pipeline for, once its connection id
 * checked out: the peer's endpoint is the datagram's source address with the
 * port it announced.
 */
export function clientAnnounceFromUdp(request: UdpAnnounceRequest, address: Uint8Array): ClientAnnounce {
  const peerLength = address.length === 4 ? 6 : 18;
  return {
    type: 'announce',
    infoHash: request.infoHash,
    peerId: request.peerId,
    endpoint: compactEndpoint(address, request.port),
    event: request.event,
    left: request.left,
    // Keep the reply inside one unfragmented datagram (79 IPv6 / 238 IPv4 peers).
    numwant: Math.min(request.numwant, maxPeersForDatagram(UDP_SAFE_PAYLOAD, peerLength)),
    sameSubnetBits: 0,
    minAnnounceSeconds: 0,
    uploaded: request.uploaded,
    downloaded: request.downloaded,
    params: request.params,
  };
}
