'use strict'
// webrtc-polyfill stand-in (see package.json). @roamhq/wrtc is resolved from
// the repository's own node_modules (this folder is linked there by npm).
// When it cannot be loaded (not installed, no binary for this platform) the
// classes below throw on use, like the old stub: bittorrent-tracker's server
// and its UDP/HTTP client never touch them.

let impl
let implementation
let loadError = null
try {
  impl = require('@roamhq/wrtc')
  implementation = '@roamhq/wrtc'
} catch (error) {
  loadError = error
  const message = `WebRTC is not available: @roamhq/wrtc did not load (${error && error.message})`
  class Unavailable {
    constructor () {
      throw new Error(message)
    }
  }
  impl = {
    RTCPeerConnection: Unavailable,
    RTCSessionDescription: Unavailable,
    RTCIceCandidate: Unavailable
  }
  implementation = 'stub'
}

// Plain identifiers in the object literal below let Node's ESM loader see the
// named exports (`import { RTCPeerConnection } from 'webrtc-polyfill'`).
const RTCPeerConnection = impl.RTCPeerConnection
const RTCSessionDescription = impl.RTCSessionDescription
const RTCIceCandidate = impl.RTCIceCandidate
const RTCDataChannel = impl.RTCDataChannel
const RTCDataChannelEvent = impl.RTCDataChannelEvent
const RTCPeerConnectionIceEvent = impl.RTCPeerConnectionIceEvent
const RTCIceTransport = impl.RTCIceTransport
const RTCSctpTransport = impl.RTCSctpTransport
const RTCDtlsTransport = impl.RTCDtlsTransport
const MediaStream = impl.MediaStream
const MediaStreamTrack = impl.MediaStreamTrack

module.exports = {
  RTCPeerConnection,
  RTCSessionDescription,
  RTCIceCandidate,
  RTCDataChannel,
  RTCDataChannelEvent,
  RTCPeerConnectionIceEvent,
  RTCIceTransport,
  RTCSctpTransport,
  RTCDtlsTransport,
  MediaStream,
  MediaStreamTrack,
  // Which implementation loaded ('@roamhq/wrtc' or 'stub'), and why not.
  implementation,
  loadError,
  default: impl
}
