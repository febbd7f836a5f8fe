/*
 * WebSocket framing (RFC 6455) and JSON literal scanning shared by the C
 * load generator (udpgen.c, ws mode) and the C echo (echo-server.c, --ws 1).
 * Header-only on purpose: each program stays one gcc invocation (cgen.ts's
 * compileC rebuilds when this file is newer than the binary).
 */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A byte buffer: [off, len) is still to be sent (out) or parsed (in). */
typedef struct {
  uint8_t *p;
  size_t len, off, cap;
} wbuf;

static inline void wbuf_reserve(wbuf *b, size_t extra) {
  if (b->len + extra <= b->cap) return;
  size_t cap = b->cap ? b->cap : 16384;
  while (cap < b->len + extra) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    fprintf(stderr, "out of memory for a WebSocket buffer\n");
    exit(1);
  }
  b->p = p;
  b->cap = cap;
}

/* Longest header: 2 + 8 length bytes + 4 mask bytes. */
#define WS_HEAD_MAX 14

/*
 * Write a frame header (FIN set) for an n-byte payload into head; with
 * `masked`, an all-zero mask follows (legal, and the payload then goes
 * unchanged). Returns the header length.
 */
static inline size_t ws_frame_head(uint8_t *head, int opcode, uint64_t n, int masked) {
  size_t h = 0;
  uint8_t m = masked ? 0x80 : 0;
  head[h++] = (uint8_t)(0x80 | opcode);
  if (n < 126) head[h++] = (uint8_t)(m | n);
  else if (n < 65536) {
    head[h++] = m | 126;
    head[h++] = (uint8_t)(n >> 8);
    head[h++] = (uint8_t)n;
  } else {
    head[h++] = m | 127;
    for (int i = 7; i >= 0; i--) head[h++] = (uint8_t)(n >> (8 * i));
  }
  if (masked) {
    memset(head + h, 0, 4);
    h += 4;
  }
  return h;
}

/*
 * Append one frame to b: the payload is written by the caller at the
 * pointer ws_frame_begin returns (at most max_payload bytes), then
 * ws_frame_end puts the header right before it.
 */
static inline uint8_t *ws_frame_begin(wbuf *b, size_t max_payload) {
  wbuf_reserve(b, WS_HEAD_MAX + max_payload);
  return b->p + b->len + WS_HEAD_MAX;
}

static inline void ws_frame_end(wbuf *b, int opcode, size_t n, int masked) {
  uint8_t head[WS_HEAD_MAX];
  size_t h = ws_frame_head(head, opcode, n, masked);
  uint8_t *at = b->p + b->len;
  if (h < WS_HEAD_MAX) memmove(at + h, at + WS_HEAD_MAX, n);
  memcpy(at, head, h);
  b->len += h + n;
}

typedef struct {
  int fin, opcode;
  size_t head;     /* header bytes, mask included */
  uint64_t len;    /* payload bytes */
  const uint8_t *mask; /* NULL when unmasked */
} ws_frame;

/* Decode the header at p: 1 when it is complete (the payload may not be), 0 when more bytes are needed. */
static inline int ws_frame_parse(const uint8_t *p, size_t avail, ws_frame *f) {
  if (avail < 2) return 0;
  f->fin = p[0] >> 7;
  f->opcode = p[0] & 15;
  uint64_t n = p[1] & 127;
  size_t h = 2;
  if (n == 126) {
    if (avail < 4) return 0;
    n = (uint64_t)p[2] << 8 | p[3];
    h = 4;
  } else if (n == 127) {
    if (avail < 10) return 0;
    n = 0;
    for (int i = 0; i < 8; i++) n = n << 8 | p[2 + i];
    h = 10;
  }
  f->mask = NULL;
  if (p[1] & 0x80) {
    if (avail < h + 4) return 0;
    f->mask = p + h;
    h += 4;
  }
  f->head = h;
  f->len = n;
  return 1;
}

/* Undo a client's mask in place (nothing to do for the all-zero one). */
static inline void ws_unmask(uint8_t *payload, uint64_t n, const uint8_t *mask) {
  if (!mask || (mask[0] | mask[1] | mask[2] | mask[3]) == 0) return;
  for (uint64_t i = 0; i < n; i++) payload[i] ^= mask[i & 3];
}

/* ---- JSON scanning: a key pattern like "peer_id": cannot occur inside a JSON string (its quotes would be escaped). */

static inline uint8_t *put_text(uint8_t *o, const void *s, size_t n) {
  memcpy(o, s, n);
  return o + n;
}
#define PUT_LIT(o, lit) ((o) = put_text((o), (lit), sizeof(lit) - 1))

/* End (exclusive) of the JSON string literal starting at b[start] (a quote), or 0. */
static inline size_t lit_end(const uint8_t *b, size_t n, size_t start) {
  if (start >= n || b[start] != '"') return 0;
  for (size_t j = start + 1; j < n; j++) {
    if (b[j] == '\\') j++;
    else if (b[j] == '"') return j + 1;
  }
  return 0;
}

/* End (exclusive) of the JSON object or array starting at b[start], strings skipped, or 0. */
static inline size_t object_end(const uint8_t *b, size_t n, size_t start) {
  if (start >= n || (b[start] != '{' && b[start] != '[')) return 0;
  int depth = 0;
  for (size_t j = start; j < n; j++) {
    uint8_t c = b[j];
    if (c == '"') {
      size_t e = lit_end(b, n, j);
      if (!e) return 0;
      j = e - 1;
    } else if (c == '{' || c == '[') depth++;
    else if ((c == '}' || c == ']') && --depth == 0) return j + 1;
  }
  return 0;
}

/* [*s, *e) = the JSON string literal right after `key` (e.g. "\"peer_id\":"), searching from `from`; 0 if none. */
static inline int lit_after(const uint8_t *b, size_t n, const char *key, size_t keylen, size_t from, size_t *s, size_t *e) {
  if (from >= n) return 0;
  const uint8_t *k = memmem(b + from, n - from, key, keylen);
  if (!k) return 0;
  size_t start = (size_t)(k - b) + keylen, end = lit_end(b, n, start);
  if (!end) return 0;
  *s = start;
  *e = end;
  return 1;
}
#define LIT_AFTER(b, n, key, s, e) lit_after((b), (n), (key), sizeof(key) - 1, 0, (s), (e))
#define KEY_AT(b, n, key, from) \
  ((from) < (n) ? (const uint8_t *)memmem((b) + (from), (n) - (from), (key), sizeof(key) - 1) : NULL)
#define HAS_KEY(b, n, key) (KEY_AT((b), (n), (key), 0) != NULL)

#endif
