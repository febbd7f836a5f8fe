/*
 * A trivial stateless BEP 15 "echo" target, to measure the load generator's
 * ceiling on this machine: recvmmsg / sendmmsg batches of 64, no state.
 * It answers every datagram with a valid-looking reply:
 *   connect  -> 16-byte connect reply echoing the transaction id
 *   announce -> 20-byte announce reply header (+ --peers fake compact peers)
 *   scrape   -> 8 + 12 * hashes bytes of zero stats
 *   other    -> error reply
 * With --http 1 it is an HTTP/1.1 echo instead (epoll, one thread per
 * --threads with SO_REUSEPORT): every request head gets a fixed bencoded
 * 200 reply (scrape reply for "GET /scrape"), the connection is kept alive
 * unless the request says "Connection: close".
 * With --ws 1 it is a WebTorrent echo (epoll, WebSocket handshake and
 * framing): it bounces exactly what ws-echo.ts bounces (an announce's reply
 * and each of its offers back as an offer from a fixed fake peer, each
 * answer back as a relayed answer, zero stats for a scrape), in C, so that
 * a C generator's ceiling is not the uWebSockets.js echo's.
 * Build: gcc -O2 -pthread -o .bench/echo-server bench/loadtest/echo-server.c
 * Run:   .bench/echo-server --port 7000 (0: any free port) [--host 127.0.0.1] [--threads 1] [--peers 0] [--http 0|1] [--ws 0|1] [--max-seconds 600]
 * Prints "listening HOST:PORT" on stdout when ready; exits by itself after
 * --max-seconds, or on SIGTERM / SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ws-frame.h"

#define BATCH 64
#define MAXPKT 2048

static char host[64] = "127.0.0.1";
static int port = 0, threads = 1, peers = 0, http = 0, ws = 0;
static double max_seconds = 600;
static volatile sig_atomic_t stop_flag = 0;
static double deadline;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void put32(uint8_t *b, uint32_t v) {
  b[0] = v >> 24;
  b[1] = v >> 16;
  b[2] = v >> 8;
  b[3] = v;
}

static uint32_t get32(const uint8_t *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static void on_signal(int s) {
  (void)s;
  stop_flag = 1;
}

static size_t reply(const uint8_t *in, size_t len, uint8_t *out) {
  if (len < 16) {
    put32(out, 3);
    put32(out + 4, len >= 8 ? get32(in + 4) : 0);
    memcpy(out + 8, "short", 5);
    return 13;
  }
  uint32_t action = get32(in + 8), txid = get32(in + 12);
  if (action == 0) {
    put32(out, 0);
    put32(out + 4, txid);
    put32(out + 8, 0x12345678u);
    put32(out + 12, 0x9abcdef0u);
    return 16;
  }
  if (action == 1 && len >= 98) {
    put32(out, 1);
    put32(out + 4, txid);
    put32(out + 8, 1800);
    put32(out + 12, 0);
    put32(out + 16, 0);
    size_t o = 20;
    for (int i = 0; i < peers; i++, o += 6) {
      put32(out + o, 0x7f000001u);
      out[o + 4] = (uint8_t)((10000 + i) >> 8);
      out[o + 5] = (uint8_t)((10000 + i) & 0xff);
    }
    return o;
  }
  if (action == 2) {
    size_t n = (len - 16) / 20;
    if (n > 74) n = 74;
    put32(out, 2);
    put32(out + 4, txid);
    memset(out + 8, 0, 12 * n);
    return 8 + 12 * n;
  }
  put32(out, 3);
  put32(out + 4, txid);
  memcpy(out + 8, "unknown action", 14);
  return 22;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  static __thread struct mmsghdr rmsg[BATCH], smsg[BATCH];
  static __thread struct iovec riov[BATCH], siov[BATCH];
  static __thread uint8_t rbuf[BATCH][MAXPKT], sbuf[BATCH][MAXPKT];
  static __thread struct sockaddr_in addrs[BATCH];
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = rbuf[i];
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
    siov[i].iov_base = sbuf[i];
    smsg[i].msg_hdr.msg_iov = &siov[i];
    smsg[i].msg_hdr.msg_iovlen = 1;
  }
  while (!stop_flag && now_s() < deadline) {
    for (int i = 0; i < BATCH; i++) {
      riov[i].iov_len = MAXPKT;
      rmsg[i].msg_hdr.msg_name = &addrs[i];
      rmsg[i].msg_hdr.msg_namelen = sizeof addrs[i];
    }
    int n = recvmmsg(fd, rmsg, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) continue; /* timeout (SO_RCVTIMEO) or EINTR: re-check the deadline */
    for (int i = 0; i < n; i++) {
      siov[i].iov_len = reply(rbuf[i], rmsg[i].msg_len, sbuf[i]);
      smsg[i].msg_hdr.msg_name = &addrs[i];
      smsg[i].msg_hdr.msg_namelen = rmsg[i].msg_hdr.msg_namelen;
    }
    int off = 0, tries = 0;
    while (off < n && tries < 8) {
      int s = sendmmsg(fd, smsg + off, (unsigned)(n - off), 0);
      if (s < 0) {
        if (errno != EINTR) tries++;
        continue;
      }
      off += s;
    }
  }
  return NULL;
}


/* ------------------------------------------------------------------ HTTP echo */

static char announce_reply[2048], announce_close[2048], scrape_reply[512], scrape_close[512];
static int announce_len, announce_close_len, scrape_len, scrape_close_len;

static int build_reply(char *out, size_t cap, const char *body, size_t blen, int close) {
  int n = snprintf(out, cap, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n", blen,
                   close ? "Connection: close\r\n" : "");
  memcpy(out + n, body, blen);
  return n + (int)blen;
}

static void http_init(void) {
  char body[1600];
  int o = snprintf(body, sizeof body, "d8:completei0e10:incompletei0e8:intervali1800e5:peers%d:", 6 * peers);
  for (int i = 0; i < peers; i++, o += 6) {
    body[o] = 127; body[o + 1] = 0; body[o + 2] = 0; body[o + 3] = 1;
    body[o + 4] = (char)((10000 + i) >> 8); body[o + 5] = (char)((10000 + i) & 0xff);
  }
  body[o++] = 'e';
  announce_len = build_reply(announce_reply, sizeof announce_reply, body, (size_t)o, 0);
  announce_close_len = build_reply(announce_close, sizeof announce_close, body, (size_t)o, 1);
  scrape_len = build_reply(scrape_reply, sizeof scrape_reply, "d5:filesdee", 11, 0);
  scrape_close_len = build_reply(scrape_close, sizeof scrape_close, "d5:filesdee", 11, 1);
}

typedef struct {
  int fd, len, nodelay;
  char buf[8192];
} hconn;

/* Answer every complete request head in c->buf; 0 when the connection is to close. */
static int http_answer(hconn *c) {
  char *end;
  while ((end = memmem(c->buf, (size_t)c->len, "\r\n\r\n", 4)) != NULL) {
    size_t head = (size_t)(end - c->buf) + 4;
    int scrape = head > 11 && !memcmp(c->buf, "GET /scrape", 11);
    int close_req = 0;
    for (char *p = c->buf; p + 17 <= end; p++)
      if (p[0] == '\n' && !strncasecmp(p + 1, "connection: close", 17)) close_req = 1;
    if (!close_req && !c->nodelay) {
      /* Only kept-alive connections write more than once, so only they need Nagle off. */
      int one = 1;
      setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c->nodelay = 1;
    }
    const char *out = scrape ? (close_req ? scrape_close : scrape_reply) : (close_req ? announce_close : announce_reply);
    int olen = scrape ? (close_req ? scrape_close_len : scrape_len) : (close_req ? announce_close_len : announce_len);
    if (send(c->fd, out, (size_t)olen, MSG_NOSIGNAL) < 0 || close_req) return 0;
    memmove(c->buf, c->buf + head, (size_t)c->len - head);
    c->len -= (int)head;
  }
  return c->len < (int)sizeof c->buf;
}

/* Read what has arrived and answer it; 0 when the connection is to close. */
static int http_readable(hconn *c) {
  for (;;) {
    ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - (size_t)c->len);
    if (r > 0) {
      c->len += (int)r;
      if (!http_answer(c)) return 0;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK); /* else EOF or an error */
  }
}

/*
 * The TCP echoes' loop, one per thread: `accepted` takes a new connection
 * and returns its state, or NULL when it is already done with it (closed);
 * `ready` handles its epoll events and returns 0 when it is to be closed,
 * which `closed` does.
 */
typedef struct {
  void *(*accepted)(int fd);
  int (*ready)(int ep, void *conn, uint32_t events);
  void (*closed)(void *conn);
} tcp_echo;

static void tcp_serve(int lfd, const tcp_echo *h) {
  int ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event evs[256];
  while (!stop_flag && now_s() < deadline) {
    int n = epoll_wait(ep, evs, 256, 200);
    for (int e = 0; e < n; e++) {
      void *c = evs[e].data.ptr;
      if (c) {
        if (!h->ready(ep, c, evs[e].events)) h->closed(c);
        continue;
      }
      int fd;
      while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        void *nc = h->accepted(fd);
        if (!nc) continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      }
    }
  }
}

static void http_closed(void *conn) {
  hconn *c = conn;
  close(c->fd);
  free(c);
}

static void *http_accepted(int fd) {
  hconn *c = malloc(sizeof *c);
  c->fd = fd;
  c->len = 0;
  c->nodelay = 0;
  /* With TCP_DEFER_ACCEPT the request is usually there already: a connection
   * that asks to be closed is answered and closed here, never entering epoll. */
  if (http_readable(c)) return c;
  http_closed(c);
  return NULL;
}

static int http_ready(int ep, void *conn, uint32_t events) {
  (void)ep;
  (void)events;
  return http_readable(conn);
}

static void *serve_http(void *arg) {
  static const tcp_echo h = {http_accepted, http_ready, http_closed};
  tcp_serve((int)(intptr_t)arg, &h);
  return NULL;
}

/* ------------------------------------------------------------------ WebSocket (WebTorrent) echo */

/* SHA-1 (FIPS 180-4): needed only for the handshake's Sec-WebSocket-Accept. */
static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
  size_t total = ((len + 8) / 64 + 1) * 64;
  uint8_t *m = calloc(total, 1);
  memcpy(m, msg, len);
  m[len] = 0x80;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) m[total - 1 - i] = (uint8_t)(bits >> (8 * i));
  for (size_t off = 0; off < total; off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) w[i] = get32(m + off + 4 * i);
    for (int i = 16; i < 80; i++) {
      uint32_t x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
      w[i] = x << 1 | x >> 31;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) f = (b & c) | (~b & d), k = 0x5a827999u;
      else if (i < 40) f = b ^ c ^ d, k = 0x6ed9eba1u;
      else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdcu;
      else f = b ^ c ^ d, k = 0xca62c1d6u;
      uint32_t tmp = (a << 5 | a >> 27) + f + e + k + w[i];
      e = d;
      d = c;
      c = b << 30 | b >> 2;
      b = a;
      a = tmp;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  free(m);
  for (int i = 0; i < 5; i++) put32(out + 4 * i, h[i]);
}

static size_t base64(const uint8_t *in, size_t n, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  out[o] = 0;
  return o;
}

/* base64(sha1(key + GUID)), RFC 6455 section 4.2.2. */
static void ws_accept_key(const char *key, size_t n, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char buf[128 + sizeof guid];
  if (n > 128) n = 128;
  memcpy(buf, key, n);
  memcpy(buf + n, guid, sizeof guid - 1);
  uint8_t digest[20];
  sha1((const uint8_t *)buf, n + sizeof guid - 1, digest);
  base64(digest, 20, out);
}

#define ECHO_PEER_JSON "\"-WSECHO-000000000000\"" /* ws-echo.ts's ECHO_PEER_ID */

typedef struct {
  int fd, open, armed_out;
  wbuf in, out;
} wsconn;

/*
 * ws-echo.ts's wsEchoFast in C: an announce gets its reply and each offer
 * back as an offer from the fake peer; an answer comes back as a relayed
 * answer; a scrape gets zero stats. Returns 0 for anything else.
 */
static int ws_echo_bounce(wbuf *out, const uint8_t *b, size_t n) {
  size_t ih_s, ih_e, s, e, pid_s, pid_e;
  if (!HAS_KEY(b, n, "\"action\":\"announce\"") || !LIT_AFTER(b, n, "\"info_hash\":", &ih_s, &ih_e)) return 0;
  size_t ihl = ih_e - ih_s, mark = out->len;
  const uint8_t *a = KEY_AT(b, n, "\"answer\":{", 0);
  if (a) {
    size_t os = (size_t)(a - b) + 9, oe = object_end(b, n, os);
    if (!oe || !LIT_AFTER(b, n, "\"peer_id\":", &pid_s, &pid_e) || !LIT_AFTER(b, n, "\"offer_id\":", &s, &e)) return 0;
    uint8_t *p = ws_frame_begin(out, 90 + ihl + (pid_e - pid_s) + (e - s) + (oe - os)), *o = p;
    PUT_LIT(o, "{\"action\":\"announce\",\"info_hash\":");
    o = put_text(o, b + ih_s, ihl);
    PUT_LIT(o, ",\"peer_id\":");
    o = put_text(o, b + pid_s, pid_e - pid_s);
    PUT_LIT(o, ",\"offer_id\":");
    o = put_text(o, b + s, e - s);
    PUT_LIT(o, ",\"answer\":");
    o = put_text(o, b + os, oe - os);
    *o++ = '}';
    ws_frame_end(out, 1, (size_t)(o - p), 0);
    return 1;
  }
  const uint8_t *offers = KEY_AT(b, n, "\"offers\":[", 0);
  if (!offers) return 0;
  uint8_t *p = ws_frame_begin(out, 80 + ihl), *o = p;
  PUT_LIT(o, "{\"action\":\"announce\",\"info_hash\":");
  o = put_text(o, b + ih_s, ihl);
  PUT_LIT(o, ",\"interval\":120,\"complete\":0,\"incomplete\":1}");
  ws_frame_end(out, 1, (size_t)(o - p), 0);
  for (size_t at = (size_t)(offers - b);;) {
    const uint8_t *k = KEY_AT(b, n, "\"offer\":{", at);
    if (!k) break;
    size_t os = (size_t)(k - b) + 8, oe = object_end(b, n, os);
    if (!oe || !lit_after(b, n, "\"offer_id\":", 11, oe, &s, &e)) {
      out->len = mark; /* half an announce: let the caller refuse it whole */
      return 0;
    }
    p = ws_frame_begin(out, 120 + ihl + (e - s) + (oe - os));
    o = p;
    PUT_LIT(o, "{\"action\":\"announce\",\"info_hash\":");
    o = put_text(o, b + ih_s, ihl);
    PUT_LIT(o, ",\"peer_id\":" ECHO_PEER_JSON ",\"offer_id\":");
    o = put_text(o, b + s, e - s);
    PUT_LIT(o, ",\"offer\":");
    o = put_text(o, b + os, oe - os);
    *o++ = '}';
    ws_frame_end(out, 1, (size_t)(o - p), 0);
    at = e;
  }
  return 1;
}

static void ws_echo_message(wsconn *c, const uint8_t *b, size_t n) {
  if (ws_echo_bounce(&c->out, b, n)) return;
  size_t s, e;
  const uint8_t *ih = KEY_AT(b, n, "\"info_hash\":", 0);
  if (HAS_KEY(b, n, "\"action\":\"scrape\"") && ih) {
    /* One literal or an array of them: each becomes a key with zero stats. */
    static const char stats[] = ":{\"complete\":0,\"incomplete\":0,\"downloaded\":0}";
    size_t from = (size_t)(ih - b) + 12, need = 0;
    /* Sized first: a literal as short as "" becomes ~50 bytes, so the output may be ~25x the input. */
    for (size_t at = from; at < n && b[at] != '}' && b[at] != ']'; at++) {
      if (b[at] != '"') continue;
      if (!(e = lit_end(b, n, at))) break;
      need += e - at + sizeof stats;
      at = e - 1;
    }
    uint8_t *p = ws_frame_begin(&c->out, 40 + need), *o = p;
    PUT_LIT(o, "{\"action\":\"scrape\",\"files\":{");
    int first = 1;
    for (size_t at = from; at < n && b[at] != '}' && b[at] != ']'; at++) {
      if (b[at] != '"') continue;
      if (!(e = lit_end(b, n, at))) break;
      s = at;
      if (!first) *o++ = ',';
      first = 0;
      o = put_text(o, b + s, e - s);
      PUT_LIT(o, stats);
      at = e - 1;
    }
    PUT_LIT(o, "}}");
    ws_frame_end(&c->out, 1, (size_t)(o - p), 0);
    return;
  }
  static const char failure[] = "{\"failure reason\":\"the echo bounces announces, answers and scrapes only\"}";
  uint8_t *p = ws_frame_begin(&c->out, sizeof failure);
  memcpy(p, failure, sizeof failure - 1);
  ws_frame_end(&c->out, 1, sizeof failure - 1, 0);
}

static void ws_set_out(int ep, wsconn *c, int want) {
  if (c->armed_out == want) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->armed_out = want;
}

/* Send what is queued; 0 when the connection failed. */
static int ws_flush(int ep, wsconn *c) {
  while (c->out.off < c->out.len) {
    ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
    if (n > 0) { c->out.off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      ws_set_out(ep, c, 1);
      return 1;
    }
    return 0;
  }
  c->out.len = c->out.off = 0;
  ws_set_out(ep, c, 0);
  return 1;
}

/* The upgrade request: 1 when answered (frames may follow in c->in), 0 for more bytes, -1 to close. */
static int ws_handshake(wsconn *c) {
  uint8_t *he = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
  if (!he) return c->in.len > 16384 ? -1 : 0;
  size_t head = (size_t)(he - c->in.p) + 4;
  const char *key = NULL;
  size_t klen = 0;
  for (uint8_t *line = c->in.p; line < he;) {
    uint8_t *eol = memmem(line, (size_t)(he + 2 - line), "\r\n", 2);
    if (!eol) break;
    if (eol - line > 18 && !strncasecmp((const char *)line, "sec-websocket-key:", 18)) {
      key = (const char *)line + 18;
      while (*key == ' ') key++;
      klen = (size_t)((const char *)eol - key);
      while (klen && key[klen - 1] == ' ') klen--;
    }
    line = eol + 2;
  }
  if (!key) {
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!send(c->fd, bad, sizeof bad - 1, MSG_NOSIGNAL);
    return -1;
  }
  char accept[29], reply[160];
  ws_accept_key(key, klen, accept);
  int n = snprintf(reply, sizeof reply,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                   accept);
  wbuf_reserve(&c->out, (size_t)n);
  memcpy(c->out.p + c->out.len, reply, (size_t)n);
  c->out.len += (size_t)n;
  memmove(c->in.p, c->in.p + head, c->in.len - head);
  c->in.len -= head;
  c->open = 1;
  return 1;
}

/* Complete frames at the start of c->in; 0 when the connection is to close. */
static int ws_echo_frames(wsconn *c) {
  size_t off = 0;
  ws_frame f;
  int keep = 1;
  while (keep && ws_frame_parse(c->in.p + off, c->in.len - off, &f)) {
    size_t avail = c->in.len - off;
    if (f.len > (1u << 20)) return 0; /* ws-echo.ts's maxPayloadLength */
    if (avail < f.head + f.len) {
      wbuf_reserve(&c->in, f.head + f.len - avail);
      break;
    }
    uint8_t *pl = c->in.p + off + f.head;
    ws_unmask(pl, f.len, f.mask);
    off += f.head + f.len;
    /* Fragmented messages are not bounced: the generators never fragment. */
    if (f.opcode == 1 && f.fin) ws_echo_message(c, pl, f.len);
    else if (f.opcode == 9 || f.opcode == 8) {
      uint8_t *p = ws_frame_begin(&c->out, f.len);
      memcpy(p, pl, f.len);
      ws_frame_end(&c->out, f.opcode == 9 ? 10 : 8, f.len, 0);
      keep = f.opcode == 9;
    }
  }
  memmove(c->in.p, c->in.p + off, c->in.len - off);
  c->in.len -= off;
  return keep;
}

static void ws_closed(void *conn) {
  wsconn *c = conn;
  close(c->fd);
  free(c->in.p);
  free(c->out.p);
  free(c);
}

static void *ws_accepted(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  wsconn *c = calloc(1, sizeof *c);
  c->fd = fd;
  return c;
}

static int ws_ready(int ep, void *conn, uint32_t events) {
  wsconn *c = conn;
  int ok = 1;
  if (events & EPOLLOUT) ok = ws_flush(ep, c);
  while (ok && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
    wbuf_reserve(&c->in, 65536);
    size_t room = c->in.cap - c->in.len;
    ssize_t r = read(c->fd, c->in.p + c->in.len, room);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r <= 0) return 0;
    c->in.len += (size_t)r;
    if (!c->open) {
      int h = ws_handshake(c);
      if (h < 0) return 0;
      if (h == 0) break;
    }
    ok = ws_echo_frames(c);
    if ((size_t)r < room) break; /* drained: level-triggered epoll reports more */
  }
  return ws_flush(ep, c) && ok; /* after a close frame: its echo, best effort */
}

static void *serve_ws(void *arg) {
  static const tcp_echo h = {ws_accepted, ws_ready, ws_closed};
  tcp_serve((int)(intptr_t)arg, &h);
  return NULL;
}

/* With --port 0 the first socket's port (the kernel's pick) is the one every thread binds and the one printed. */
static void bound_port(int fd, struct sockaddr_in *a) {
  socklen_t len = sizeof *a;
  if (port == 0 && getsockname(fd, (struct sockaddr *)a, &len) == 0) port = ntohs(a->sin_port);
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--host")) snprintf(host, sizeof host, "%s", argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--peers")) peers = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-seconds")) max_seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--http")) http = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--ws")) ws = atoi(argv[i + 1]);
    else { fprintf(stderr, "echo-server: unknown option %s\n", argv[i]); return 2; }
  }
  if (port < 0 || port > 65535 || threads < 1 || threads > 64 || peers < 0 || peers > 200 || max_seconds <= 0) {
    fprintf(stderr, "usage: echo-server --port P [--host 127.0.0.1] [--threads N] [--peers N] [--http 0|1] [--ws 0|1] [--max-seconds S]\n");
    return 2;
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || (ntohl(a.sin_addr.s_addr) >> 24) != 127) {
    fprintf(stderr, "echo-server: --host must be a 127.0.0.0/8 address\n");
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  deadline = now_s() + max_seconds;
  pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
  int *fds = calloc((size_t)threads, sizeof(int));
  if (http || ws) {
    signal(SIGPIPE, SIG_IGN);
    http_init();
    for (int t = 0; t < threads; t++) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      /*
       * accept() returns once the request has arrived, so serve_http answers a
       * connection-per-request client without epoll (with the generator's reset
       * close: ~25 -> ~19 us of CPU per connection). WebSocket clients speak first too.
       */
      setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
      if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("echo-server: bind/listen");
        return 1;
      }
      fds[t] = fd;
      bound_port(fd, &a);
    }
    printf("listening %s:%d\n", host, port);
    fflush(stdout);
    for (int t = 0; t < threads; t++) pthread_create(&tids[t], NULL, ws ? serve_ws : serve_http, (void *)(intptr_t)fds[t]);
    for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
    return 0;
  }
  for (int t = 0; t < threads; t++) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1, sz = 1 << 22;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
      perror("echo-server: bind");
      return 1;
    }
    fds[t] = fd;
    bound_port(fd, &a);
  }
  printf("listening %s:%d\n", host, port);
  fflush(stdout);
  for (int t = 0; t < threads; t++) pthread_create(&tids[t], NULL, serve, (void *)(intptr_t)fds[t]);
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  return 0;
}
