/*
 * udpgen: the load model of bench/loadtest in C, for when a Node generator
 * cannot outrun the tracker. Despite the name it speaks both protocols:
 * - UDP (BEP 15, the default): batched socket I/O (recvmmsg / sendmmsg,
 *   epoll), sockets x window requests in flight;
 * - HTTP (--protocol http): non-blocking TCP connections driven by epoll,
 *   one request in flight each, keep-alive or --close 1 (a new connection
 *   per request, which Node's net module cannot open fast enough to load a
 *   C tracker: on this box it tops out near 10k connections/s, wrk and this
 *   code near 20k).
 * Compiled at bench time:
 *   gcc -O2 -pthread -o .bench/udpgen bench/loadtest/udpgen.c -lm
 * and normally driven by `loadtest udp|http --engine c` (bench/loadtest/cgen.ts),
 * which reads the JSON it prints on stdout.
 *
 * Same model, same numbers as model.ts / rng.ts: torrent i's hash is
 * mix3(seed, i, 0..4), Zipf(s) by inverse CDF over a double array summed in
 * index order, sfc32 streams seeded with mix3(seed, stream, 1..3) and 12
 * discarded outputs, socket k uses stream 0x1000 + k and source address
 * 127.0.0.(sourceFirst + k % sources), draw order: kind, then torrent, port
 * index, seeder (announce) or count, torrents (scrape).
 *
 * stderr: progress lines (when --progress 1) and the markers
 * "#measure-start" / "#measure-end". stdout: one JSON object at the end.
 * Every loop is bounded by the run's end time; the process exits by itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ rng */

static inline uint32_t fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

static inline uint32_t mix3(uint32_t a, uint32_t b, uint32_t c) {
  return fmix32(fmix32(fmix32(a ^ 0x9e3779b9u) + b) + c);
}

typedef struct { uint32_t a, b, c, d; } sfc32;

static uint32_t sfc_next(sfc32 *r) {
  uint32_t t = r->a + r->b + r->d;
  r->d += 1;
  r->a = r->b ^ (r->b >> 9);
  r->b = r->c + (r->c << 3);
  r->c = (r->c << 21) | (r->c >> 11);
  r->c += t;
  return t;
}

static void sfc_seed(sfc32 *r, uint32_t seed, uint32_t stream) {
  r->a = mix3(seed, stream, 1);
  r->b = mix3(seed, stream, 2);
  r->c = mix3(seed, stream, 3);
  r->d = 1;
  for (int i = 0; i < 12; i++) sfc_next(r);
}

static inline double sfc_double(sfc32 *r) { return (double)sfc_next(r) / 4294967296.0; }
static inline uint32_t sfc_below(sfc32 *r, uint32_t n) { return (uint32_t)floor(sfc_double(r) * (double)n); }

static double sfc_normal(sfc32 *r) {
  double u = sfc_double(r);
  while (u == 0) u = sfc_double(r);
  double v = sfc_double(r);
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static double sfc_gamma(sfc32 *r, double shape, double scale) {
  if (shape < 1) {
    double u = sfc_double(r);
    while (u == 0) u = sfc_double(r);
    return sfc_gamma(r, shape + 1, scale) * pow(u, 1 / shape);
  }
  double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
  for (;;) {
    double x, v;
    do {
      x = sfc_normal(r);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    double u = sfc_double(r);
    if (u < 1 - 0.0331 * x * x * x * x) return d * v * scale;
    if (u > 0 && log(u) < 0.5 * x * x + d * (1 - v + log(v))) return d * v * scale;
  }
}

/* ------------------------------------------------------------------ options */

typedef struct {
  char host[64];
  int port;
  double duration, warmup;
  int sockets, window, threads;
  double timeout_ms, reconnect_after_ms;
  int max_failures;
  uint32_t seed;
  int torrents;
  int gamma;
  double zipf_s, gamma_shape, gamma_scale;
  double announces_per_scrape;
  int scrape_max;
  double seeder_share;
  int numwant, sources, source_first, ports_per_source, first_port;
  int progress;
  int print_hashes, print_peer_ids;
  int http, connections, close_each;
  char announce_path[256], scrape_path[256];
} options;

static options O = {
    .host = "127.0.0.1", .port = 6969, .duration = 10, .warmup = 2, .sockets = 64, .window = 16, .threads = 1,
    .timeout_ms = 1000, .reconnect_after_ms = 60000, .max_failures = 3, .seed = 1, .torrents = 10000, .gamma = 0,
    .zipf_s = 1.0, .gamma_shape = 0.2, .gamma_scale = 100, .announces_per_scrape = 100, .scrape_max = 10,
    .seeder_share = 0.5, .numwant = 50, .sources = 8, .source_first = 1, .ports_per_source = 4096,
    .first_port = 10000, .progress = 1, .print_hashes = 0, .print_peer_ids = 0,
    .http = 0, .connections = 64, .close_each = 0, .announce_path = "/announce", .scrape_path = "/scrape",
};

static void usage(void) {
  fprintf(stderr,
          "usage: udpgen --target IP:PORT [--duration S] [--warmup S] [--sockets N] [--window N] [--threads N]\n"
          "  [--timeout-ms MS] [--reconnect-after-ms MS] [--max-failures N] [--seed N] [--torrents N]\n"
          "  [--popularity zipf|gamma] [--zipf-s X] [--gamma-shape X] [--gamma-scale X] [--scrape-ratio N]\n"
          "  [--scrape-hashes N] [--seeders X] [--numwant N] [--sources N] [--source-first N]\n"
          "  [--ports-per-source N] [--first-port N] [--progress 0|1] [--print-hashes N] [--print-peer-ids N]\n"
          "  [--protocol udp|http] [--connections N] [--close 0|1] [--announce-path P] [--scrape-path P]\n");
}

static int parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    char *k = argv[i];
    char *v = strchr(k, '=');
    char buf[64];
    if (v) {
      size_t n = (size_t)(v - k) < sizeof buf - 1 ? (size_t)(v - k) : sizeof buf - 1;
      memcpy(buf, k, n);
      buf[n] = 0;
      k = buf;
      v++;
    } else {
      if (i + 1 >= argc) { fprintf(stderr, "udpgen: %s needs a value\n", k); return -1; }
      v = argv[++i];
    }
    if (!strcmp(k, "--target")) {
      char *colon = strrchr(v, ':');
      if (!colon || colon - v >= (long)sizeof O.host) { fprintf(stderr, "udpgen: bad --target\n"); return -1; }
      memcpy(O.host, v, colon - v);
      O.host[colon - v] = 0;
      O.port = atoi(colon + 1);
    } else if (!strcmp(k, "--duration")) O.duration = atof(v);
    else if (!strcmp(k, "--warmup")) O.warmup = atof(v);
    else if (!strcmp(k, "--sockets")) O.sockets = atoi(v);
    else if (!strcmp(k, "--window")) O.window = atoi(v);
    else if (!strcmp(k, "--threads")) O.threads = atoi(v);
    else if (!strcmp(k, "--timeout-ms")) O.timeout_ms = atof(v);
    else if (!strcmp(k, "--reconnect-after-ms")) O.reconnect_after_ms = atof(v);
    else if (!strcmp(k, "--max-failures")) O.max_failures = atoi(v);
    else if (!strcmp(k, "--seed")) O.seed = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--torrents")) O.torrents = atoi(v);
    else if (!strcmp(k, "--popularity")) O.gamma = !strcmp(v, "gamma");
    else if (!strcmp(k, "--zipf-s")) O.zipf_s = atof(v);
    else if (!strcmp(k, "--gamma-shape")) O.gamma_shape = atof(v);
    else if (!strcmp(k, "--gamma-scale")) O.gamma_scale = atof(v);
    else if (!strcmp(k, "--scrape-ratio")) O.announces_per_scrape = atof(v);
    else if (!strcmp(k, "--scrape-hashes")) O.scrape_max = atoi(v);
    else if (!strcmp(k, "--seeders")) O.seeder_share = atof(v);
    else if (!strcmp(k, "--numwant")) O.numwant = atoi(v);
    else if (!strcmp(k, "--sources")) O.sources = atoi(v);
    else if (!strcmp(k, "--source-first")) O.source_first = atoi(v);
    else if (!strcmp(k, "--ports-per-source")) O.ports_per_source = atoi(v);
    else if (!strcmp(k, "--first-port")) O.first_port = atoi(v);
    else if (!strcmp(k, "--progress")) O.progress = atoi(v);
    else if (!strcmp(k, "--print-hashes")) O.print_hashes = atoi(v);
    else if (!strcmp(k, "--print-peer-ids")) O.print_peer_ids = atoi(v);
    else if (!strcmp(k, "--protocol")) O.http = !strcmp(v, "http");
    else if (!strcmp(k, "--connections")) O.connections = atoi(v);
    else if (!strcmp(k, "--close")) O.close_each = atoi(v);
    else if (!strcmp(k, "--announce-path")) snprintf(O.announce_path, sizeof O.announce_path, "%s", v);
    else if (!strcmp(k, "--scrape-path")) snprintf(O.scrape_path, sizeof O.scrape_path, "%s", v);
    else { fprintf(stderr, "udpgen: unknown option %s\n", k); return -1; }
  }
  if (O.sockets < 1 || O.window < 1 || O.window > 256 || O.threads < 1 || O.threads > 64 || O.torrents < 1 ||
      O.scrape_max < 1 || O.scrape_max > 74 || O.sources < 1 || O.ports_per_source < 1 || O.duration <= 0 ||
      O.duration > 3600 || O.warmup < 0 || O.warmup > 600 || O.timeout_ms <= 0 || O.max_failures < 1) {
    fprintf(stderr, "udpgen: option out of range\n");
    return -1;
  }
  if (O.http) {
    if (O.connections < 1 || O.connections > 20000) { fprintf(stderr, "udpgen: --connections out of range\n"); return -1; }
    O.sockets = O.connections;
    O.window = 1;
  }
  if (O.threads > O.sockets) O.threads = O.sockets;
  return 0;
}

/* ------------------------------------------------------------------ model */

static double *zipf_cdf;
static double zipf_total;

static void model_init(void) {
  if (O.gamma) return;
  zipf_cdf = malloc(sizeof(double) * (size_t)O.torrents);
  double acc = 0;
  for (int k = 0; k < O.torrents; k++) {
    acc += O.zipf_s == 1.0 ? 1.0 / (double)(k + 1) : pow((double)(k + 1), -O.zipf_s);
    zipf_cdf[k] = acc;
  }
  zipf_total = acc;
}

static uint32_t sample_torrent(sfc32 *r) {
  if (O.gamma) {
    double g = sfc_gamma(r, O.gamma_shape, O.gamma_scale);
    double p = ((g < 101 ? g : 101) - 1) / 100;
    if (!(p > 0)) return 0;
    uint32_t i = (uint32_t)floor(p * (O.torrents - 1));
    return i < (uint32_t)O.torrents ? i : (uint32_t)O.torrents - 1;
  }
  double target = sfc_double(r) * zipf_total;
  int lo = 0, hi = O.torrents - 1;
  while (lo < hi) {
    int mid = (int)(((unsigned)lo + (unsigned)hi) >> 1);
    if (zipf_cdf[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return (uint32_t)lo;
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

static void torrent_hash(uint32_t i, uint8_t out[20]) {
  for (int j = 0; j < 5; j++) put32(out + 4 * j, mix3(O.seed, i, (uint32_t)j));
}

#define PEER_SALT 0x5eed9ee2u

static void peer_id(uint32_t source, uint32_t port_index, uint8_t out[20]) {
  static const char hex[] = "0123456789abcdef";
  uint32_t n = source * (uint32_t)O.ports_per_source + port_index;
  uint32_t a = mix3(O.seed ^ PEER_SALT, n, 0), b = mix3(O.seed ^ PEER_SALT, n, 1);
  memcpy(out, "-LG0001-", 8);
  int o = 8;
  for (int i = 28; i >= 0; i -= 4) out[o++] = hex[(a >> i) & 15];
  for (int i = 28; i >= 16; i -= 4) out[o++] = hex[(b >> i) & 15];
}

static uint32_t peer_key(uint32_t source, uint32_t port_index) {
  return mix3(O.seed ^ PEER_SALT, source * (uint32_t)O.ports_per_source + port_index, 2);
}

/* ------------------------------------------------------------------ stats */

#define BUCKETS (64 + 25 * 32)

static inline int bucket_of(double us) {
  if (!(us > 0)) return 0;
  uint32_t v = us >= 2147483647.0 ? 2147483647u : (uint32_t)us;
  if (v < 64) return (int)v;
  int msb = 31 - __builtin_clz(v);
  int shift = msb - 5;
  uint32_t mant = v >> shift;
  return 64 + (shift - 1) * 32 + (int)(mant - 32);
}

typedef struct {
  uint64_t sent, announces, scrapes, connects, errors, lost, invalid, peers, reconnects, socket_errors;
} counters;

typedef struct {
  _Atomic uint64_t sent, replies, errors, lost, invalid;
} live_counters;

#define MAX_ERRS 4
typedef struct {
  char text[96];
  uint64_t count;
} err_sample;

/* ------------------------------------------------------------------ run state */

enum { K_FREE = 0, K_CONNECT = 1, K_ANNOUNCE = 2, K_SCRAPE = 3 };
#define BATCH 64
#define MAXPKT 2048

typedef struct {
  int fd;
  uint32_t index, source;
  sfc32 rng;
  uint32_t gen;
  int connected, connecting, ever_connected, failures;
  uint32_t conn_hi, conn_lo;
  double connected_at;
  uint32_t *txids;
  double *sent_at;
  uint8_t *kinds;
} flow;

/* One HTTP connection slot: at most one request in flight. */
enum { H_IDLE = 0, H_CONNECTING = 1, H_WAITING = 2 };
#define HREQ 2048
#define HBUF 16384

typedef struct {
  int fd; /* -1 when closed */
  uint32_t index, source;
  sfc32 rng;
  int state, kind, served, opened;
  double sent_at, retry_at;
  int req_len, req_off;
  int rlen;
  char req[HREQ];
  uint8_t rbuf[HBUF];
} hconn;

typedef struct {
  int id;
  flow *flows;
  hconn *hconns;
  int nflows;
  int ep;
  counters c;
  double hist[BUCKETS];
  double hist_sum, hist_max;
  uint64_t hist_count;
  live_counters live;
  err_sample errs[MAX_ERRS];
  /* send batch */
  struct mmsghdr smsg[BATCH];
  struct iovec siov[BATCH];
  uint8_t sbuf[BATCH][MAXPKT];
  int nsend;
  /* receive batch */
  struct mmsghdr rmsg[BATCH];
  struct iovec riov[BATCH];
  uint8_t rbuf[BATCH][MAXPKT];
} thread_state;

static double t_measure_start, t_measure_end, t_stop;
static struct sockaddr_in target;
static double scrape_threshold;

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline int in_window(double t) { return t >= t_measure_start && t < t_measure_end; }

#define COUNT(ts, field, t)                   \
  do {                                        \
    if (in_window(t)) (ts)->c.field++;        \
  } while (0)

static void note_error(thread_state *ts, const uint8_t *msg, size_t len) {
  char text[96];
  size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
  for (size_t i = 0; i < n; i++) text[i] = (msg[i] >= 32 && msg[i] < 127 && msg[i] != '"' && msg[i] != '\\') ? (char)msg[i] : '?';
  text[n] = 0;
  for (int i = 0; i < MAX_ERRS; i++) {
    if (ts->errs[i].count && !strcmp(ts->errs[i].text, text)) { ts->errs[i].count++; return; }
  }
  for (int i = 0; i < MAX_ERRS; i++) {
    if (!ts->errs[i].count) { strcpy(ts->errs[i].text, text); ts->errs[i].count = 1; return; }
  }
}

static void flush_sends(thread_state *ts, int fd) {
  int off = 0;
  int tries = 0;
  while (off < ts->nsend && tries < 8) {
    int n = sendmmsg(fd, ts->smsg + off, (unsigned)(ts->nsend - off), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      tries++;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        ts->c.socket_errors++;
        break;
      }
      continue;
    }
    off += n;
  }
  /* Anything not sent stays "in flight" and will time out as lost. */
  ts->nsend = 0;
}

static uint32_t next_txid(flow *f, int slot) {
  uint32_t t = (f->gen << 8) | (uint32_t)slot;
  f->gen = (f->gen + 1) & 0xffffff;
  if (f->gen == 0) f->gen = 1;
  f->txids[slot] = t;
  return t;
}

/* Queue a new request for a free slot (or leave it free while waiting for a connection id). */
static void fill(thread_state *ts, flow *f, int slot, double t) {
  if (t >= t_measure_end) return;
  int need_connect = !f->connected || t - f->connected_at > O.reconnect_after_ms;
  if (ts->nsend >= BATCH) flush_sends(ts, f->fd);
  uint8_t *b = ts->sbuf[ts->nsend];
  size_t len;
  if (need_connect && !f->connecting) {
    f->connecting = 1;
    if (f->ever_connected) COUNT(ts, reconnects, t);
    put32(b, 0x417);
    put32(b + 4, 0x27101980);
    put32(b + 8, 0);
    put32(b + 12, next_txid(f, slot));
    len = 16;
    f->kinds[slot] = K_CONNECT;
  } else if (!f->connected) {
    return;
  } else if (sfc_double(&f->rng) < scrape_threshold) {
    uint32_t n = 1 + sfc_below(&f->rng, (uint32_t)O.scrape_max), picked[74], count = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t t = sample_torrent(&f->rng);
      int dup = 0;
      for (uint32_t j = 0; j < count; j++) dup |= picked[j] == t;
      if (!dup) picked[count++] = t;
    }
    put32(b, f->conn_hi);
    put32(b + 4, f->conn_lo);
    put32(b + 8, 2);
    put32(b + 12, next_txid(f, slot));
    for (uint32_t i = 0; i < count; i++) torrent_hash(picked[i], b + 16 + 20 * i);
    len = 16 + 20 * count;
    f->kinds[slot] = K_SCRAPE;
  } else {
    uint32_t torrent = sample_torrent(&f->rng);
    uint32_t port_index = sfc_below(&f->rng, (uint32_t)O.ports_per_source);
    int seeder = sfc_double(&f->rng) < O.seeder_share;
    put32(b, f->conn_hi);
    put32(b + 4, f->conn_lo);
    put32(b + 8, 1);
    put32(b + 12, next_txid(f, slot));
    torrent_hash(torrent, b + 16);
    peer_id(f->source, port_index, b + 36);
    memset(b + 56, 0, 24); /* downloaded, left, uploaded */
    if (!seeder) { put32(b + 64, 0); put32(b + 68, 1000000000u); }
    put32(b + 80, 0);      /* event none */
    put32(b + 84, 0);      /* ip */
    put32(b + 88, peer_key(f->source, port_index));
    put32(b + 92, (uint32_t)O.numwant);
    uint16_t port = (uint16_t)(O.first_port + (int)port_index);
    b[96] = port >> 8;
    b[97] = port & 0xff;
    len = 98;
    f->kinds[slot] = K_ANNOUNCE;
  }
  f->sent_at[slot] = t;
  ts->siov[ts->nsend].iov_len = len;
  ts->nsend++;
  atomic_fetch_add_explicit(&ts->live.sent, 1, memory_order_relaxed);
  COUNT(ts, sent, t);
}

static void fill_all(thread_state *ts, flow *f, double t) {
  for (int s = 0; s < O.window; s++)
    if (f->kinds[s] == K_FREE) fill(ts, f, s, t);
}

static void fail(flow *f) {
  if (++f->failures >= O.max_failures) {
    f->connected = 0;
    f->failures = 0;
  }
}

static void on_reply(thread_state *ts, flow *f, const uint8_t *m, size_t len, double t) {
  if (len < 8) { COUNT(ts, invalid, t); atomic_fetch_add_explicit(&ts->live.invalid, 1, memory_order_relaxed); return; }
  uint32_t action = get32(m), txid = get32(m + 4);
  int slot = (int)(txid & 0xff);
  if (slot >= O.window || f->kinds[slot] == K_FREE || f->txids[slot] != txid) {
    COUNT(ts, invalid, t);
    atomic_fetch_add_explicit(&ts->live.invalid, 1, memory_order_relaxed);
    return;
  }
  int kind = f->kinds[slot];
  double lat_us = (t - f->sent_at[slot]) * 1000;
  f->kinds[slot] = K_FREE;
  int ok = 0;
  if (action == 0 && kind == K_CONNECT && len >= 16) {
    f->conn_hi = get32(m + 8);
    f->conn_lo = get32(m + 12);
    f->connected = 1;
    f->ever_connected = 1;
    f->connecting = 0;
    f->connected_at = t;
    f->failures = 0;
    COUNT(ts, connects, t);
    fill_all(ts, f, t);
    return;
  } else if (action == 1 && kind == K_ANNOUNCE && len >= 20 && (len - 20) % 6 == 0) {
    if (in_window(t)) { ts->c.announces++; ts->c.peers += (len - 20) / 6; }
    ok = 1;
  } else if (action == 2 && kind == K_SCRAPE && (len - 8) % 12 == 0) {
    if (in_window(t)) ts->c.scrapes++;
    ok = 1;
  } else if (action == 3) {
    COUNT(ts, errors, t);
    atomic_fetch_add_explicit(&ts->live.errors, 1, memory_order_relaxed);
    note_error(ts, m + 8, len - 8);
    if (kind == K_CONNECT) f->connecting = 0;
    fail(f);
  } else {
    COUNT(ts, invalid, t);
    atomic_fetch_add_explicit(&ts->live.invalid, 1, memory_order_relaxed);
    if (kind == K_CONNECT) f->connecting = 0;
  }
  if (ok) {
    f->failures = 0;
    atomic_fetch_add_explicit(&ts->live.replies, 1, memory_order_relaxed);
    if (in_window(t)) {
      ts->hist[bucket_of(lat_us)]++;
      ts->hist_count++;
      ts->hist_sum += lat_us;
      if (lat_us > ts->hist_max) ts->hist_max = lat_us;
    }
  }
  fill(ts, f, slot, t);
}

static void sweep(thread_state *ts, double t) {
  for (int i = 0; i < ts->nflows; i++) {
    flow *f = &ts->flows[i];
    for (int s = 0; s < O.window; s++) {
      if (f->kinds[s] != K_FREE && t - f->sent_at[s] > O.timeout_ms) {
        if (f->kinds[s] == K_CONNECT) f->connecting = 0;
        f->kinds[s] = K_FREE;
        COUNT(ts, lost, t);
        atomic_fetch_add_explicit(&ts->live.lost, 1, memory_order_relaxed);
        fail(f);
      }
    }
    fill_all(ts, f, t);
    if (ts->nsend) flush_sends(ts, f->fd);
  }
}

static void *thread_main(void *arg) {
  thread_state *ts = arg;
  struct epoll_event evs[64];
  double t = now_ms();
  for (int i = 0; i < ts->nflows; i++) {
    fill(ts, &ts->flows[i], 0, t);
    if (ts->nsend) flush_sends(ts, ts->flows[i].fd);
  }
  double next_sweep = t + 10;
  while ((t = now_ms()) < t_stop && t < t_measure_end) {
    int n = epoll_wait(ts->ep, evs, 64, 5);
    for (int e = 0; e < n; e++) {
      flow *f = evs[e].data.ptr;
      for (int rounds = 0; rounds < 4; rounds++) {
        for (int i = 0; i < BATCH; i++) ts->riov[i].iov_len = MAXPKT;
        int got = recvmmsg(f->fd, ts->rmsg, BATCH, MSG_DONTWAIT, NULL);
        if (got < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ts->c.socket_errors++;
          break;
        }
        double tr = now_ms();
        for (int i = 0; i < got; i++) on_reply(ts, f, ts->rbuf[i], ts->rmsg[i].msg_len, tr);
        if (ts->nsend) flush_sends(ts, f->fd);
        if (got < BATCH) break;
      }
    }
    t = now_ms();
    if (t >= next_sweep) {
      sweep(ts, t);
      next_sweep = t + 10;
    }
  }
  return NULL;
}


/* ------------------------------------------------------------------ HTTP */

#define DRAIN_TAG (1ull << 63)

static void h_next(thread_state *ts, hconn *c, double t);

static int is_unreserved(uint8_t ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
         ch == '_' || ch == '~';
}

/* Percent-encode like buildAnnounceQuery (unreserved raw, the rest %XX upper case). */
static int pct(char *out, const uint8_t *b, int n) {
  static const char hex[] = "0123456789ABCDEF";
  int o = 0;
  for (int i = 0; i < n; i++) {
    if (is_unreserved(b[i])) out[o++] = (char)b[i];
    else {
      out[o++] = '%';
      out[o++] = hex[b[i] >> 4];
      out[o++] = hex[b[i] & 15];
    }
  }
  return o;
}

static void h_close_fd(thread_state *ts, hconn *c, int drain) {
  if (c->fd < 0) return;
  if (drain) {
    /* The server is closing this one: keep it until its FIN so TIME_WAIT stays on the server. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = DRAIN_TAG | (uint32_t)c->fd};
    if (epoll_ctl(ts->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) close(c->fd);
  } else {
    close(c->fd);
  }
  c->fd = -1;
  c->state = H_IDLE;
  c->rlen = 0;
}

static void h_write(thread_state *ts, hconn *c, double t) {
  while (c->req_off < c->req_len) {
    ssize_t n = send(c->fd, c->req + c->req_off, (size_t)(c->req_len - c->req_off), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ts->ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
      }
      /* EPIPE / ECONNRESET: handled like a close (stale keep-alive or failure). */
      return;
    }
    c->req_off += (int)n;
  }
  (void)t;
}

static void h_open(thread_state *ts, hconn *c, double t) {
  if (c->opened++ > 0) COUNT(ts, reconnects, t);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) goto fail;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef IP_BIND_ADDRESS_NO_PORT
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
  src.sin_addr.s_addr = htonl((127u << 24) | (uint32_t)(O.source_first + (int)c->source));
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) goto fail_fd;
  if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) goto fail_fd;
  c->fd = fd;
  c->state = H_CONNECTING;
  c->served = 0;
  c->rlen = 0;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(ts->ep, EPOLL_CTL_ADD, fd, &ev);
  return;
fail_fd: {
  char msg[64];
  int n = snprintf(msg, sizeof msg, "socket: %s", strerror(errno));
  note_error(ts, (const uint8_t *)msg, (size_t)n);
  close(fd);
}
fail:
  ts->c.socket_errors++;
  c->state = H_IDLE;
  c->kind = 0;
  c->retry_at = t + 50;
}

/* Plan the next request and send it (on the kept-alive connection, or a new one). */
static void h_next(thread_state *ts, hconn *c, double t) {
  c->retry_at = 0;
  if (t >= t_measure_end) return;
  char *r = c->req;
  int o = 0;
  uint8_t h[20];
  if (sfc_double(&c->rng) < scrape_threshold) {
    uint32_t n = 1 + sfc_below(&c->rng, (uint32_t)O.scrape_max), picked[74], count = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t tt = sample_torrent(&c->rng);
      int dup = 0;
      for (uint32_t j = 0; j < count; j++) dup |= picked[j] == tt;
      if (!dup) picked[count++] = tt;
    }
    o += snprintf(r + o, HREQ - o, "GET %s?", O.scrape_path);
    for (uint32_t i = 0; i < count; i++) {
      o += snprintf(r + o, HREQ - o, i ? "&info_hash=" : "info_hash=");
      torrent_hash(picked[i], h);
      o += pct(r + o, h, 20);
    }
    c->kind = K_SCRAPE;
  } else {
    uint32_t torrent = sample_torrent(&c->rng);
    uint32_t port_index = sfc_below(&c->rng, (uint32_t)O.ports_per_source);
    int seeder = sfc_double(&c->rng) < O.seeder_share;
    o += snprintf(r + o, HREQ - o, "GET %s?info_hash=", O.announce_path);
    torrent_hash(torrent, h);
    o += pct(r + o, h, 20);
    o += snprintf(r + o, HREQ - o, "&peer_id=");
    peer_id(c->source, port_index, h);
    o += pct(r + o, h, 20);
    o += snprintf(r + o, HREQ - o, "&port=%d&uploaded=0&downloaded=0&left=%s&numwant=%d&compact=1&key=%08x",
                  O.first_port + (int)port_index, seeder ? "0" : "1000000000", O.numwant, peer_key(c->source, port_index));
    c->kind = K_ANNOUNCE;
  }
  o += snprintf(r + o, HREQ - o, " HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", O.host, O.port, O.close_each ? "Connection: close\r\n" : "");
  c->req_len = o < HREQ ? o : HREQ;
  c->req_off = 0;
  c->sent_at = t;
  atomic_fetch_add_explicit(&ts->live.sent, 1, memory_order_relaxed);
  COUNT(ts, sent, t);
  if (c->fd >= 0 && c->state == H_IDLE && !O.close_each) {
    c->state = H_WAITING;
    c->rlen = 0;
    h_write(ts, c, t);
  } else {
    if (c->fd >= 0) h_close_fd(ts, c, 0);
    h_open(ts, c, t);
  }
}

/* Find "<key><digits>:" in the body; return the string length or -1. */
static long bstr_len(const uint8_t *b, size_t n, const char *key) {
  size_t kl = strlen(key);
  const uint8_t *p = memmem(b, n, key, kl);
  if (!p) return -1;
  p += kl;
  long v = 0;
  int digits = 0;
  while (p < b + n && *p >= '0' && *p <= '9' && digits < 9) v = v * 10 + (*p++ - '0'), digits++;
  if (!digits || p >= b + n || *p != ':') return -1;
  return v;
}

static void h_finish(thread_state *ts, hconn *c, int status, const uint8_t *body, size_t n, double t) {
  int kind = c->kind;
  c->kind = 0;
  double lat_us = (t - c->sent_at) * 1000;
  if (status != 200) {
    char msg[32];
    int k = snprintf(msg, sizeof msg, "HTTP %d", status);
    note_error(ts, (const uint8_t *)msg, (size_t)k);
    COUNT(ts, errors, t);
    atomic_fetch_add_explicit(&ts->live.errors, 1, memory_order_relaxed);
    return;
  }
  if (n < 2 || body[0] != 'd' || body[n - 1] != 'e') {
    COUNT(ts, invalid, t);
    atomic_fetch_add_explicit(&ts->live.invalid, 1, memory_order_relaxed);
    return;
  }
  long fl = bstr_len(body, n, "14:failure reason");
  if (fl >= 0) {
    const uint8_t *p = memmem(body, n, "14:failure reason", 17);
    const uint8_t *colon = memchr(p + 17, ':', n - (size_t)(p + 17 - body));
    size_t avail = colon ? n - (size_t)(colon + 1 - body) : 0;
    note_error(ts, colon ? colon + 1 : body, (size_t)fl < avail ? (size_t)fl : avail);
    COUNT(ts, errors, t);
    atomic_fetch_add_explicit(&ts->live.errors, 1, memory_order_relaxed);
    return;
  }
  if (kind == K_ANNOUNCE) {
    long p4 = bstr_len(body, n, "5:peers"), p6 = bstr_len(body, n, "6:peers6");
    if (in_window(t)) {
      ts->c.announces++;
      ts->c.peers += (uint64_t)((p4 > 0 ? p4 / 6 : 0) + (p6 > 0 ? p6 / 18 : 0));
    }
  } else {
    if (n < 8 || memcmp(body, "d5:files", 8) != 0) {
      COUNT(ts, invalid, t);
      atomic_fetch_add_explicit(&ts->live.invalid, 1, memory_order_relaxed);
      return;
    }
    COUNT(ts, scrapes, t);
  }
  atomic_fetch_add_explicit(&ts->live.replies, 1, memory_order_relaxed);
  if (in_window(t)) {
    ts->hist[bucket_of(lat_us)]++;
    ts->hist_count++;
    ts->hist_sum += lat_us;
    if (lat_us > ts->hist_max) ts->hist_max = lat_us;
  }
}

/* Parse what has arrived. Returns 1 when a response was consumed (and the next request issued). */
static int h_parse(thread_state *ts, hconn *c, double t, int eof) {
  uint8_t *b = c->rbuf;
  uint8_t *he = memmem(b, (size_t)c->rlen, "\r\n\r\n", 4);
  if (!he) {
    if (c->rlen >= HBUF) goto bad;
    return 0;
  }
  size_t head = (size_t)(he - b) + 4;
  if (c->rlen < 12 || memcmp(b, "HTTP/1.", 7) != 0) goto bad;
  int status = atoi((const char *)b + 9);
  int http10 = b[7] == '0';
  long clen = -1;
  int server_close = http10, chunked = 0;
  for (uint8_t *line = memmem(b, head, "\r\n", 2) + 2; line < he; ) {
    uint8_t *eol = memmem(line, (size_t)(he + 2 - line), "\r\n", 2);
    if (!eol) break;
    size_t ll = (size_t)(eol - line);
    if (ll > 15 && !strncasecmp((const char *)line, "content-length:", 15)) clen = strtol((const char *)line + 15, NULL, 10);
    else if (ll > 11 && !strncasecmp((const char *)line, "connection:", 11)) {
      if (memmem(line, ll, "close", 5) || memmem(line, ll, "Close", 5)) server_close = 1;
      else if (memmem(line, ll, "eep-alive", 9)) server_close = 0;
    } else if (ll > 18 && !strncasecmp((const char *)line, "transfer-encoding:", 18) && memmem(line, ll, "chunked", 7)) chunked = 1;
    line = eol + 2;
  }
  if (chunked) goto bad; /* trackers send Content-Length; chunked replies are not supported here */
  size_t total;
  if (clen >= 0) {
    total = head + (size_t)clen;
    if (total > HBUF) goto bad;
    if ((size_t)c->rlen < total) return 0;
  } else {
    if (!eof) return 0; /* body runs until the server closes */
    total = (size_t)c->rlen;
    server_close = 1;
  }
  c->served++;
  h_finish(ts, c, status, b + head, total - head, t);
  int reuse = !server_close && !O.close_each && (size_t)c->rlen == total && !eof;
  if (reuse) {
    c->state = H_IDLE;
    c->rlen = 0;
  } else {
    h_close_fd(ts, c, !eof);
  }
  h_next(ts, c, t);
  return 1;
bad:
  COUNT(ts, invalid, t);
  atomic_fetch_add_explicit(&ts->live.invalid, 1, memory_order_relaxed);
  c->kind = 0;
  h_close_fd(ts, c, 0);
  h_next(ts, c, t);
  return 1;
}

static void h_event(thread_state *ts, hconn *c, uint32_t events, double t) {
  if (c->fd < 0) return;
  if (c->state == H_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      char msg[64];
      int n = snprintf(msg, sizeof msg, "socket: %s", strerror(err));
      note_error(ts, (const uint8_t *)msg, (size_t)n);
      COUNT(ts, socket_errors, t);
      h_close_fd(ts, c, 0);
      c->kind = 0;
      c->retry_at = t + 50;
      return;
    }
    c->state = H_WAITING;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ts->ep, EPOLL_CTL_MOD, c->fd, &ev);
    h_write(ts, c, t);
    if (!(events & EPOLLIN)) return;
  } else if (events & EPOLLOUT) {
    h_write(ts, c, t);
    if (c->req_off >= c->req_len) {
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
      epoll_ctl(ts->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
  }
  if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  for (;;) {
    if (c->fd < 0 || c->state != H_WAITING) return;
    ssize_t n = read(c->fd, c->rbuf + c->rlen, (size_t)(HBUF - c->rlen));
    if (n > 0) {
      c->rlen += (int)n;
      h_parse(ts, c, t, 0);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    /* EOF or error */
    int was_err = n < 0;
    int saved = errno;
    if (c->rlen > 0 && !was_err && h_parse(ts, c, t, 1)) return;
    if (c->served > 0 && c->rlen == 0) {
      /* A kept-alive connection the server closed between replies: resend on a new one. */
      h_close_fd(ts, c, 0);
      h_open(ts, c, t);
      c->req_off = 0;
      return;
    }
    if (was_err) {
      char msg[64];
      int k = snprintf(msg, sizeof msg, "socket: %s", strerror(saved));
      note_error(ts, (const uint8_t *)msg, (size_t)k);
    } else {
      note_error(ts, (const uint8_t *)"socket: closed before a complete reply", 38);
    }
    COUNT(ts, socket_errors, t);
    h_close_fd(ts, c, 0);
    c->kind = 0;
    c->retry_at = t + 50;
    return;
  }
}

static void h_sweep(thread_state *ts, double t) {
  for (int i = 0; i < ts->nflows; i++) {
    hconn *c = &ts->hconns[i];
    if (c->kind && c->state != H_IDLE && t - c->sent_at > O.timeout_ms) {
      COUNT(ts, lost, t);
      atomic_fetch_add_explicit(&ts->live.lost, 1, memory_order_relaxed);
      c->kind = 0;
      h_close_fd(ts, c, 0);
      h_next(ts, c, t);
    } else if (c->retry_at > 0 && t >= c->retry_at) {
      h_next(ts, c, t);
    }
  }
}

static void *http_thread_main(void *arg) {
  thread_state *ts = arg;
  struct epoll_event evs[256];
  double t = now_ms();
  for (int i = 0; i < ts->nflows; i++) h_next(ts, &ts->hconns[i], t);
  double next_sweep = t + 10;
  while ((t = now_ms()) < t_stop && t < t_measure_end) {
    int n = epoll_wait(ts->ep, evs, 256, 5);
    double te = now_ms();
    for (int e = 0; e < n; e++) {
      if (evs[e].data.u64 & DRAIN_TAG) {
        int fd = (int)(uint32_t)evs[e].data.u64;
        char tmp[4096];
        ssize_t r;
        while ((r = read(fd, tmp, sizeof tmp)) > 0) {
        }
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) close(fd);
        continue;
      }
      h_event(ts, evs[e].data.ptr, evs[e].events, te);
    }
    t = now_ms();
    if (t >= next_sweep) {
      h_sweep(ts, t);
      next_sweep = t + 10;
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------ main */

static void fmt_int(char *out, size_t cap, double x) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%.0f", x < 0 ? 0 : x);
  size_t n = strlen(tmp), o = 0;
  for (size_t i = 0; i < n && o + 2 < cap; i++) {
    out[o++] = tmp[i];
    if ((n - i - 1) % 3 == 0 && i + 1 < n) out[o++] = ',';
  }
  out[o] = 0;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (parse_args(argc, argv) < 0) { usage(); return 2; }
  if (O.print_hashes > 0 || O.print_peer_ids > 0) {
    uint8_t h[20];
    for (int i = 0; i < O.print_hashes && i < O.torrents; i++) {
      torrent_hash((uint32_t)i, h);
      for (int j = 0; j < 20; j++) printf("%02x", h[j]);
      printf("\n");
    }
    for (int i = 0; i < O.print_peer_ids; i++) {
      peer_id((uint32_t)(i % O.sources), (uint32_t)(i / O.sources) % (uint32_t)O.ports_per_source, h);
      printf("%.20s\n", (char *)h);
    }
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  model_init();
  scrape_threshold = O.announces_per_scrape > 0 ? 1.0 / (O.announces_per_scrape + 1) : 0;
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)O.port);
  if (inet_pton(AF_INET, O.host, &target.sin_addr) != 1) { fprintf(stderr, "udpgen: bad target address\n"); return 2; }
  if ((ntohl(target.sin_addr.s_addr) >> 24) != 127) { fprintf(stderr, "udpgen: refusing a non-loopback target\n"); return 2; }

  thread_state *threads = calloc((size_t)O.threads, sizeof(thread_state));
  pthread_t *tids = calloc((size_t)O.threads, sizeof(pthread_t));
  flow *flows = NULL;
  hconn *hconns = NULL;
  if (O.http) {
    hconns = calloc((size_t)O.sockets, sizeof(hconn));
    for (int k = 0; k < O.sockets; k++) {
      hconn *c = &hconns[k];
      c->fd = -1;
      c->index = (uint32_t)k;
      c->source = (uint32_t)(k % O.sources);
      sfc_seed(&c->rng, O.seed, 0x2000u + (uint32_t)k);
    }
  } else {
    flows = calloc((size_t)O.sockets, sizeof(flow));
    for (int k = 0; k < O.sockets; k++) {
      flow *f = &flows[k];
      f->index = (uint32_t)k;
      f->source = (uint32_t)(k % O.sources);
      sfc_seed(&f->rng, O.seed, 0x1000u + (uint32_t)k);
      f->gen = 1;
      f->txids = calloc((size_t)O.window, sizeof(uint32_t));
      f->sent_at = calloc((size_t)O.window, sizeof(double));
      f->kinds = calloc((size_t)O.window, 1);
      f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      if (f->fd < 0) { perror("udpgen: socket"); return 1; }
      int sz = 1 << 21;
      setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
      setsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
      struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
      src.sin_addr.s_addr = htonl((127u << 24) | (uint32_t)(O.source_first + (int)f->source));
      if (bind(f->fd, (struct sockaddr *)&src, sizeof src) < 0) { perror("udpgen: bind"); return 1; }
      if (connect(f->fd, (struct sockaddr *)&target, sizeof target) < 0) { perror("udpgen: connect"); return 1; }
    }
  }
  int per = O.sockets / O.threads, extra = O.sockets % O.threads, first = 0;
  for (int i = 0; i < O.threads; i++) {
    thread_state *ts = &threads[i];
    ts->id = i;
    ts->nflows = per + (i < extra ? 1 : 0);
    ts->flows = flows ? &flows[first] : NULL;
    ts->hconns = hconns ? &hconns[first] : NULL;
    first += ts->nflows;
    ts->ep = epoll_create1(0);
    for (int b = 0; b < BATCH; b++) {
      ts->siov[b].iov_base = ts->sbuf[b];
      ts->smsg[b].msg_hdr.msg_iov = &ts->siov[b];
      ts->smsg[b].msg_hdr.msg_iovlen = 1;
      ts->riov[b].iov_base = ts->rbuf[b];
      ts->riov[b].iov_len = MAXPKT;
      ts->rmsg[b].msg_hdr.msg_iov = &ts->riov[b];
      ts->rmsg[b].msg_hdr.msg_iovlen = 1;
    }
    for (int k = 0; k < ts->nflows && !O.http; k++) {
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ts->flows[k]};
      epoll_ctl(ts->ep, EPOLL_CTL_ADD, ts->flows[k].fd, &ev);
    }
  }

  double t0 = now_ms();
  t_measure_start = t0 + O.warmup * 1000;
  t_measure_end = t_measure_start + O.duration * 1000;
  t_stop = t_measure_end + 1; /* threads stop at the window's end */
  for (int i = 0; i < O.threads; i++) pthread_create(&tids[i], NULL, O.http ? http_thread_main : thread_main, &threads[i]);

  /* Progress and markers; the main thread only sleeps and reads counters. */
  uint64_t prev[5] = {0};
  double prev_t = t0, cpu_start = 0, cpu_end = 0;
  int started = 0, ended = 0;
  for (;;) {
    double t = now_ms();
    if (!started && t >= t_measure_start) {
      started = 1;
      cpu_start = cpu_seconds();
      fprintf(stderr, "#measure-start\n");
    }
    if (t >= t_measure_end) {
      cpu_end = cpu_seconds();
      ended = 1;
      fprintf(stderr, "#measure-end\n");
      break;
    }
    double next = t + 1000;
    if (!started && t_measure_start < next) next = t_measure_start;
    if (t_measure_end < next) next = t_measure_end;
    double wait = next - t;
    struct timespec ws = {.tv_sec = (time_t)(wait / 1000), .tv_nsec = (long)(fmod(wait, 1000) * 1e6)};
    nanosleep(&ws, NULL);
    t = now_ms();
    if (O.progress && t - prev_t >= 999) {
      uint64_t cur[5] = {0};
      for (int i = 0; i < O.threads; i++) {
        cur[0] += atomic_load_explicit(&threads[i].live.sent, memory_order_relaxed);
        cur[1] += atomic_load_explicit(&threads[i].live.replies, memory_order_relaxed);
        cur[2] += atomic_load_explicit(&threads[i].live.errors, memory_order_relaxed);
        cur[3] += atomic_load_explicit(&threads[i].live.lost, memory_order_relaxed);
        cur[4] += atomic_load_explicit(&threads[i].live.invalid, memory_order_relaxed);
      }
      double dt = (t - prev_t) / 1000;
      char r[32], s[32], e[32], l[32], inv[32];
      fmt_int(r, sizeof r, (double)(cur[1] - prev[1]) / dt);
      fmt_int(s, sizeof s, (double)(cur[0] - prev[0]) / dt);
      fmt_int(e, sizeof e, (double)(cur[2] - prev[2]));
      fmt_int(l, sizeof l, (double)(cur[3] - prev[3]));
      fmt_int(inv, sizeof inv, (double)(cur[4] - prev[4]));
      const char *phase = t < t_measure_start ? "warm-up" : t < t_measure_end ? "measuring" : "stopping";
      fprintf(stderr, "[%3.0fs %-9s] %9s replies/s  sent %s/s  errors %s  lost %s  invalid %s\n", (t - t0) / 1000, phase, r,
              s, e, l, inv);
      memcpy(prev, cur, sizeof prev);
      prev_t = t;
    }
  }
  (void)ended;
  for (int i = 0; i < O.threads; i++) pthread_join(tids[i], NULL);

  counters c = {0};
  double hist[BUCKETS] = {0}, hsum = 0, hmax = 0;
  uint64_t hcount = 0;
  for (int i = 0; i < O.threads; i++) {
    thread_state *ts = &threads[i];
    c.sent += ts->c.sent; c.announces += ts->c.announces; c.scrapes += ts->c.scrapes; c.connects += ts->c.connects;
    c.errors += ts->c.errors; c.lost += ts->c.lost; c.invalid += ts->c.invalid; c.peers += ts->c.peers;
    c.reconnects += ts->c.reconnects; c.socket_errors += ts->c.socket_errors;
    for (int b = 0; b < BUCKETS; b++) hist[b] += ts->hist[b];
    hcount += ts->hist_count;
    hsum += ts->hist_sum;
    if (ts->hist_max > hmax) hmax = ts->hist_max;
  }
  printf("{\"engine\":\"c\",\"threads\":%d,\"sockets\":%d,\"window\":%d,\"measuredSeconds\":%.3f,\"cpuSeconds\":%.4f,", O.threads,
         O.sockets, O.window, O.duration, cpu_end - cpu_start);
  printf("\"counters\":{\"sent\":%lu,\"announces\":%lu,\"scrapes\":%lu,\"connects\":%lu,\"errors\":%lu,\"lost\":%lu,"
         "\"invalid\":%lu,\"peers\":%lu,\"reconnects\":%lu,\"socketErrors\":%lu},",
         (unsigned long)c.sent, (unsigned long)c.announces, (unsigned long)c.scrapes, (unsigned long)c.connects,
         (unsigned long)c.errors, (unsigned long)c.lost, (unsigned long)c.invalid, (unsigned long)c.peers,
         (unsigned long)c.reconnects, (unsigned long)c.socket_errors);
  printf("\"histogram\":{\"count\":%lu,\"sum\":%.1f,\"max\":%.1f,\"counts\":[", (unsigned long)hcount, hsum, hmax);
  for (int b = 0; b < BUCKETS; b++) printf(b ? ",%.0f" : "%.0f", hist[b]);
  printf("]},\"errorMessages\":{");
  int firstErr = 1;
  for (int i = 0; i < O.threads; i++)
    for (int j = 0; j < MAX_ERRS; j++)
      if (threads[i].errs[j].count) {
        printf("%s\"%s\":%lu", firstErr ? "" : ",", threads[i].errs[j].text, (unsigned long)threads[i].errs[j].count);
        firstErr = 0;
      }
  printf("}}\n");
  fflush(stdout);
  return 0;
}
