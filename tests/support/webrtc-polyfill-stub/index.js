// bittorrent-tracker imports these names; nothing in UDP/HTTP paths calls them.
class Unavailable { constructor () { throw new Error('WebRTC is not available in this stub') } }
module.exports = { RTCPeerConnection: Unavailable, RTCSessionDescription: Unavailable, RTCIceCandidate: Unavailable, default: {} }
