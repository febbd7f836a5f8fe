/*
 * udpgen: the load model of bench/loadtest in C, for when a Node generator
 * cannot outrun the tracker. Despite the name it speaks three protocols:
 * - UDP (BEP 15, the default): batched socket I/O (recvmmsg / sendmmsg,
 *   epoll), sockets x window requests in flight;
 * - HTTP (--protocol http): non-blocking TCP connections driven by epoll,
 *   one request in flight each, keep-alive or --close 1 (a new connection
 *   per request, which Node's net module cannot open fast enough to load a
 *   C tracker: on this box it tops out near 10k connections/s, this code
 *   near 25k, where the kernel's work for a connection is the limit);
 * - WebTorrent (--protocol ws): WebSocket clients driven by epoll, the
 *   Node ws loop's model and frames (see the WebSocket section), at about a
 *   fifth of its CPU per reply.
 * Compiled at bench time:
 *   gcc -O2 -pthread -o .bench/udpgen bench/loadtest/udpgen.c -lm
 * and normally driven by `loadtest udp|http --engine c` (bench/loadtest/cgen.ts),
 * which reads the JSON it prints on stdout.
 *
 * Same model, same numbers as model.ts / rng.ts: torrent i's hash is
 * mix3(seed, i, 0..4), Zipf(s) by inverse CDF over a double array summed in
 * index order, sfc32 streams seeded with mix3(seed, stream, 1..3) and 12
 * discarded outputs, draw order: kind, then torrent, port index, seeder
 * (announce) or count, torrents (scrape). Source s is the address
 * first-address + s; flow k (UDP socket k, stream 0x1000 + k, or HTTP
 * connection slot k, stream 0x2000 + k) sends from sources k, k + flows,
 * k + 2 flows, ... (flow_sources, model.ts flowSources): a UDP flow each
 * request from its next address in turn, with that address's connection id
 * (IP_PKTINFO picks the source of each datagram of a sendmmsg batch on a
 * socket bound to the wildcard address, where the replies to every
 * 127.x.y.z come back), an HTTP slot each new connection from its next
 * address.
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
#include <stdarg.h>
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

#include "ws-frame.h"

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

#define WS_MAX_WINDOW 64

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
  int numwant, sources, ports_per_source, first_port;
  char first_address[32];
  uint32_t first_addr; /* host byte order */
  int progress;
  int print_hashes, print_peer_ids, print_sources;
  int http, connections, close_each, requests_per_connection;
  char announce_path[256], scrape_path[256];
  int ws, ws_torrents, ws_offers, sdp_min, sdp_max, ws_answer;
  double ws_interval_ms;
  char ws_path[256];
  int print_ws_frames, print_ws_connection;
} options;

static options O = {
    .host = "127.0.0.1", .port = 6969, .duration = 10, .warmup = 2, .sockets = 64, .window = 16, .threads = 1,
    .timeout_ms = 1000, .reconnect_after_ms = 60000, .max_failures = 3, .seed = 1, .torrents = 10000, .gamma = 0,
    .zipf_s = 1.0, .gamma_shape = 0.2, .gamma_scale = 100, .announces_per_scrape = 100, .scrape_max = 10,
    .seeder_share = 0.5, .numwant = 50, .sources = 16384, .first_address = "127.1.0.1", .ports_per_source = 2,
    .first_port = 10000, .progress = 1, .print_hashes = 0, .print_peer_ids = 0, .print_sources = 0,
    .http = 0, .connections = 64, .close_each = 0, .requests_per_connection = 100, .announce_path = "/announce",
    .scrape_path = "/scrape",
    .ws = 0, .ws_torrents = 10, .ws_offers = 5, .sdp_min = 500, .sdp_max = 1500, .ws_answer = 1, .ws_interval_ms = 0,
    .ws_path = "/", .print_ws_frames = 0, .print_ws_connection = 0,
};

static void usage(void) {
  fprintf(stderr,
          "usage: udpgen --target IP:PORT [--duration S] [--warmup S] [--sockets N] [--window N] [--threads N]\n"
          "  [--timeout-ms MS] [--reconnect-after-ms MS] [--max-failures N] [--seed N] [--torrents N]\n"
          "  [--popularity zipf|gamma] [--zipf-s X] [--gamma-shape X] [--gamma-scale X] [--scrape-ratio N]\n"
          "  [--scrape-hashes N] [--seeders X] [--numwant N] [--sources N] [--first-address 127.A.B.C]\n"
          "  [--ports-per-source N] [--first-port N] [--progress 0|1] [--print-hashes N] [--print-peer-ids N]\n"
          "  [--print-sources N] [--protocol udp|http|ws] [--connections N] [--close 0|1]\n"
          "  [--requests-per-connection N] [--announce-path P] [--scrape-path P]\n"
          "  ws: [--window N] [--ws-path P] [--torrents-per-connection N] [--offers N] [--sdp-min B] [--sdp-max B]\n"
          "      [--interval-ms MS] [--answer 0|1] [--print-ws-frames N --print-ws-connection K]\n");
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
    else if (!strcmp(k, "--first-address")) snprintf(O.first_address, sizeof O.first_address, "%s", v);
    else if (!strcmp(k, "--ports-per-source")) O.ports_per_source = atoi(v);
    else if (!strcmp(k, "--first-port")) O.first_port = atoi(v);
    else if (!strcmp(k, "--progress")) O.progress = atoi(v);
    else if (!strcmp(k, "--print-hashes")) O.print_hashes = atoi(v);
    else if (!strcmp(k, "--print-peer-ids")) O.print_peer_ids = atoi(v);
    else if (!strcmp(k, "--print-sources")) O.print_sources = atoi(v);
    else if (!strcmp(k, "--protocol")) {
      O.http = !strcmp(v, "http");
      O.ws = !strcmp(v, "ws");
      if (!O.http && !O.ws && strcmp(v, "udp")) { fprintf(stderr, "udpgen: --protocol must be udp, http or ws\n"); return -1; }
    }
    else if (!strcmp(k, "--ws-path")) snprintf(O.ws_path, sizeof O.ws_path, "%s", v);
    else if (!strcmp(k, "--torrents-per-connection")) O.ws_torrents = atoi(v);
    else if (!strcmp(k, "--offers")) O.ws_offers = atoi(v);
    else if (!strcmp(k, "--sdp-min")) O.sdp_min = atoi(v);
    else if (!strcmp(k, "--sdp-max")) O.sdp_max = atoi(v);
    else if (!strcmp(k, "--interval-ms")) O.ws_interval_ms = atof(v);
    else if (!strcmp(k, "--answer")) O.ws_answer = atoi(v);
    else if (!strcmp(k, "--print-ws-frames")) O.print_ws_frames = atoi(v);
    else if (!strcmp(k, "--print-ws-connection")) O.print_ws_connection = atoi(v);
    else if (!strcmp(k, "--connections")) O.connections = atoi(v);
    else if (!strcmp(k, "--close")) O.close_each = atoi(v);
    else if (!strcmp(k, "--requests-per-connection")) O.requests_per_connection = atoi(v);
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
  struct in_addr first;
  if (inet_pton(AF_INET, O.first_address, &first) != 1 || (ntohl(first.s_addr) >> 24) != 127) {
    fprintf(stderr, "udpgen: --first-address must be a dotted quad in 127.0.0.0/8\n");
    return -1;
  }
  O.first_addr = ntohl(first.s_addr);
  /* Same bounds as model.ts validateModel: below 127.255.255.255 (broadcast), pool of at most 2^24 peers. */
  if (O.sources > (1 << 20) || (uint64_t)O.first_addr + (uint64_t)O.sources - 1 > 0x7ffffffeu ||
      (uint64_t)O.sources * (uint64_t)O.ports_per_source > (1u << 24)) {
    fprintf(stderr, "udpgen: --sources out of range (at most 2^20, within 127.0.0.0/8, at most 2^24 peers)\n");
    return -1;
  }
  if (O.requests_per_connection < 1) { fprintf(stderr, "udpgen: --requests-per-connection must be >= 1\n"); return -1; }
  if (O.close_each) O.requests_per_connection = 1;
  if (O.http || O.ws) {
    if (O.connections < 1 || O.connections > 20000) { fprintf(stderr, "udpgen: --connections out of range\n"); return -1; }
    O.sockets = O.connections;
    if (O.http) O.window = 1;
  }
  if (O.ws && (O.window > WS_MAX_WINDOW || O.ws_torrents < 1 || O.ws_torrents > 10000 || O.ws_offers < 0 || O.ws_offers > 50 ||
               O.sdp_min < 10 || O.sdp_max < O.sdp_min || O.sdp_max > 60000 || O.ws_interval_ms < 0 || O.ws_path[0] != '/' ||
               strpbrk(O.ws_path, " \r\n"))) {
    fprintf(stderr, "udpgen: a ws option is out of range (window <= 64, torrents-per-connection 1..10000, offers 0..50, "
                    "sdp 10..60000 bytes, path starting with /)\n");
    return -1;
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

/* The address of source s, host byte order (model.ts sourceAddress). */
static inline uint32_t source_addr(uint32_t s) { return O.first_addr + s; }

/* The sources flow k of `flows` sends from: first, first + step, ... (count of them); model.ts flowSources. */
static void flow_sources(uint32_t k, uint32_t flows, uint32_t *first, uint32_t *step, uint32_t *count) {
  uint32_t sources = (uint32_t)O.sources;
  *step = flows;
  if (sources <= flows) {
    *first = k % sources;
    *count = 1;
  } else {
    *first = k;
    *count = (sources - 1 - k) / flows + 1;
  }
}

/* One request of the model, in model.ts's draw order: kind, then torrent, port
 * index, seeder (announce) or count, torrents (scrape, duplicates dropped). */
typedef struct {
  int scrape, seeder;
  uint32_t torrent, port_index, count;
  uint32_t picked[74];
} plan_t;

static double scrape_threshold;

static void plan_request(sfc32 *r, plan_t *p) {
  p->scrape = sfc_double(r) < scrape_threshold;
  if (p->scrape) {
    uint32_t n = 1 + sfc_below(r, (uint32_t)O.scrape_max);
    p->count = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t t = sample_torrent(r);
      int dup = 0;
      for (uint32_t j = 0; j < p->count; j++) dup |= p->picked[j] == t;
      if (!dup) p->picked[p->count++] = t;
    }
  } else {
    p->torrent = sample_torrent(r);
    p->port_index = sfc_below(r, (uint32_t)O.ports_per_source);
    p->seeder = sfc_double(r) < O.seeder_share;
  }
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
  _Atomic uint64_t sent, replies, errors, lost, invalid, offers_in, answers_in;
} live_counters;

/* stats.ts's WsCounters. */
typedef struct {
  uint64_t offers_sent, offers_received, answers_sent, answers_received, answers_matched, answer_errors, reopened;
} ws_counters;

#define MAX_ERRS 4
typedef struct {
  char text[96];
  uint64_t count;
} err_sample;

/* ------------------------------------------------------------------ run state */

enum { K_FREE = 0, K_CONNECT = 1, K_ANNOUNCE = 2, K_SCRAPE = 3 };
#define BATCH 64
#define MAXPKT 2048

/* One client address of a UDP flow: its connection id (the tracker binds ids to the address). */
enum { S_CONNECTED = 1, S_CONNECTING = 2, S_EVER = 4 };
typedef struct {
  uint32_t conn_hi, conn_lo;
  double connected_at;
  uint8_t state, failures;
} source_state;

typedef struct {
  int fd;
  uint32_t index;
  uint32_t src_first, src_step, src_count, turn; /* its sources: src_first + i * src_step, i < src_count */
  source_state *src;
  sfc32 rng;
  uint32_t gen;
  uint32_t *txids;
  uint32_t *slot_src; /* which of its sources each slot's request left from */
  double *sent_at;
  uint8_t *kinds;
} flow;

/* One HTTP connection slot: at most one request in flight. */
enum { H_IDLE = 0, H_CONNECTING = 1, H_WAITING = 2 };
#define HREQ 2048
#define HBUF 16384

typedef struct {
  int fd; /* -1 when closed */
  uint32_t index, source;             /* source: the current connection's address */
  uint32_t src_first, src_step, src_count, turn;
  int on_conn, last;                  /* requests sent on the connection; the one in flight is its last */
  sfc32 rng;
  int state, kind, served, opened;
  double sent_at, retry_at;
  int req_len, req_off;
  int rlen;
  char req[HREQ];
  uint8_t rbuf[HBUF];
} hconn;

/* WebTorrent: see the WebSocket section. */
typedef struct wconn wconn;
#define WS_SDP_POOL 32
typedef struct {
  uint8_t *json[WS_SDP_POOL];
  size_t len[WS_SDP_POOL];
  size_t max_len;
} sdp_pool;

typedef struct {
  int id;
  flow *flows;
  hconn *hconns;
  wconn *wconns;
  int nflows, first;
  int ep;
  counters c;
  /* ws only */
  ws_counters wc;
  double sig[BUCKETS], sig_sum, sig_max;
  uint64_t sig_count;
  sdp_pool offer_sdps, answer_sdps;
  int ws_running, ws_pending, ws_paused;
  double hist[BUCKETS];
  double hist_sum, hist_max;
  uint64_t hist_count;
  live_counters live;
  err_sample errs[MAX_ERRS];
  /* send batch; each datagram names its source address in an IP_PKTINFO control message */
  struct mmsghdr smsg[BATCH];
  struct iovec siov[BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
  } sctl[BATCH];
  struct in_pktinfo *spkt[BATCH];
  uint8_t sbuf[BATCH][MAXPKT];
  int nsend;
  /* receive batch */
  struct mmsghdr rmsg[BATCH];
  struct iovec riov[BATCH];
  uint8_t rbuf[BATCH][MAXPKT];
} thread_state;

static double t_measure_start, t_measure_end, t_stop;
static struct sockaddr_in target;

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

static inline int needs_connect(const source_state *s, double t) {
  return !(s->state & S_CONNECTED) || t - s->connected_at > O.reconnect_after_ms;
}

/* The flow's next source (in turn) that can send now, or -1 when all wait for a connect reply. */
static int next_source(flow *f) {
  for (uint32_t k = 0; k < f->src_count; k++) {
    uint32_t i = f->turn;
    f->turn = i + 1 == f->src_count ? 0 : i + 1;
    uint8_t st = f->src[i].state;
    if ((st & S_CONNECTED) || !(st & S_CONNECTING)) return (int)i;
  }
  return -1;
}

/* Queue a new request for a free slot (or leave it free while every source waits for a connection id). */
static void fill(thread_state *ts, flow *f, int slot, double t) {
  if (t >= t_measure_end) return;
  int i = next_source(f);
  if (i < 0) return;
  source_state *s = &f->src[i];
  uint32_t source = f->src_first + (uint32_t)i * f->src_step;
  if (ts->nsend >= BATCH) flush_sends(ts, f->fd);
  uint8_t *b = ts->sbuf[ts->nsend];
  size_t len;
  plan_t p;
  f->slot_src[slot] = (uint32_t)i;
  if (needs_connect(s, t) && !(s->state & S_CONNECTING)) {
    if (s->state & S_EVER) COUNT(ts, reconnects, t);
    s->state |= S_CONNECTING;
    put32(b, 0x417);
    put32(b + 4, 0x27101980);
    put32(b + 8, 0);
    put32(b + 12, next_txid(f, slot));
    len = 16;
    f->kinds[slot] = K_CONNECT;
  } else if (plan_request(&f->rng, &p), p.scrape) {
    put32(b, s->conn_hi);
    put32(b + 4, s->conn_lo);
    put32(b + 8, 2);
    put32(b + 12, next_txid(f, slot));
    for (uint32_t k = 0; k < p.count; k++) torrent_hash(p.picked[k], b + 16 + 20 * k);
    len = 16 + 20 * p.count;
    f->kinds[slot] = K_SCRAPE;
  } else {
    uint32_t torrent = p.torrent, port_index = p.port_index;
    int seeder = p.seeder;
    put32(b, s->conn_hi);
    put32(b + 4, s->conn_lo);
    put32(b + 8, 1);
    put32(b + 12, next_txid(f, slot));
    torrent_hash(torrent, b + 16);
    peer_id(source, port_index, b + 36);
    memset(b + 56, 0, 24); /* downloaded, left, uploaded */
    if (!seeder) { put32(b + 64, 0); put32(b + 68, 1000000000u); }
    put32(b + 80, 0);      /* event none */
    put32(b + 84, 0);      /* ip */
    put32(b + 88, peer_key(source, port_index));
    put32(b + 92, (uint32_t)O.numwant);
    uint16_t port = (uint16_t)(O.first_port + (int)port_index);
    b[96] = port >> 8;
    b[97] = port & 0xff;
    len = 98;
    f->kinds[slot] = K_ANNOUNCE;
  }
  ts->spkt[ts->nsend]->ipi_spec_dst.s_addr = htonl(source_addr(source));
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

/* One more timeout or error reply for source i: after max_failures in a row its id is dropped. */
static void fail(flow *f, uint32_t i) {
  source_state *s = &f->src[i];
  if (++s->failures >= O.max_failures) {
    s->state &= (uint8_t)~S_CONNECTED;
    s->failures = 0;
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
  uint32_t i = f->slot_src[slot];
  source_state *s = &f->src[i];
  double lat_us = (t - f->sent_at[slot]) * 1000;
  f->kinds[slot] = K_FREE;
  int ok = 0;
  if (action == 0 && kind == K_CONNECT && len >= 16) {
    s->conn_hi = get32(m + 8);
    s->conn_lo = get32(m + 12);
    s->state = S_CONNECTED | S_EVER;
    s->connected_at = t;
    s->failures = 0;
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
    if (kind == K_CONNECT) s->state &= (uint8_t)~S_CONNECTING;
    fail(f, i);
  } else {
    COUNT(ts, invalid, t);
    atomic_fetch_add_explicit(&ts->live.invalid, 1, memory_order_relaxed);
    if (kind == K_CONNECT) s->state &= (uint8_t)~S_CONNECTING;
  }
  if (ok) {
    s->failures = 0;
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
        uint32_t i = f->slot_src[s];
        if (f->kinds[s] == K_CONNECT) f->src[i].state &= (uint8_t)~S_CONNECTING;
        f->kinds[s] = K_FREE;
        COUNT(ts, lost, t);
        atomic_fetch_add_explicit(&ts->live.lost, 1, memory_order_relaxed);
        fail(f, i);
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

/* Connect a non-blocking TCP socket from the model's source address `source`: 0, or -1 with errno. */
static int connect_from(int fd, uint32_t source) {
  int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
  /* bind() alone would reserve a port outright (~28k per address); this way connect() picks it and only the 4-tuple must be unique. */
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
  src.sin_addr.s_addr = htonl(source_addr(source));
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) return -1;
  return connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS ? -1 : 0;
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
  if (O.close_each) {
    /*
     * Close with a reset once the reply is in: no FIN exchange and no
     * TIME_WAIT on either side (the same for every tracker). With the C
     * echo this took the ceiling from ~20k to ~25k connections/s, the
     * generator from ~49 to ~38 us of CPU per connection.
     */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  } else {
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (connect_from(fd, c->source) < 0) goto fail_fd;
  /*
   * The request waits for EPOLLOUT even though on loopback the handshake is
   * usually over when connect returns: sending at once was measured slower
   * (~22k against ~25k connections/s), as each send then wakes the server
   * for one connection instead of once for a batch.
   */
  c->fd = fd;
  c->state = H_CONNECTING;
  c->served = 0;
  c->on_conn = 1; /* the request in hand (a resend after a stale keep-alive close, too) */
  c->rlen = 0;
  c->req_off = 0;
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

/* Plan the next request and send it (on the kept-alive connection, or on a new one from the slot's next address). */
static void h_next(thread_state *ts, hconn *c, double t) {
  c->retry_at = 0;
  if (t >= t_measure_end) return;
  int reuse = c->fd >= 0 && c->state == H_IDLE && c->on_conn < O.requests_per_connection;
  if (!reuse) {
    c->source = c->src_first + c->turn * c->src_step;
    c->turn = c->turn + 1 == c->src_count ? 0 : c->turn + 1;
    c->on_conn = 0;
  }
  c->on_conn++;
  c->last = c->on_conn >= O.requests_per_connection;
  char *r = c->req;
  int o = 0;
  uint8_t h[20];
  plan_t p;
  plan_request(&c->rng, &p);
  if (p.scrape) {
    o += snprintf(r + o, HREQ - o, "GET %s?", O.scrape_path);
    for (uint32_t i = 0; i < p.count; i++) {
      o += snprintf(r + o, HREQ - o, i ? "&info_hash=" : "info_hash=");
      torrent_hash(p.picked[i], h);
      o += pct(r + o, h, 20);
    }
    c->kind = K_SCRAPE;
  } else {
    uint32_t torrent = p.torrent, port_index = p.port_index;
    int seeder = p.seeder;
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
  o += snprintf(r + o, HREQ - o, " HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", O.host, O.port, c->last ? "Connection: close\r\n" : "");
  c->req_len = o < HREQ ? o : HREQ;
  c->req_off = 0;
  c->sent_at = t;
  atomic_fetch_add_explicit(&ts->live.sent, 1, memory_order_relaxed);
  COUNT(ts, sent, t);
  if (reuse) {
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
  long status_l = strtol((const char *)b + 9, NULL, 10);
  int status = status_l < 0 || status_l > 999 ? 0 : (int)status_l; /* counted as an error "HTTP <status>" unless 200 */
  int http10 = b[7] == '0';
  long clen = -1;
  int server_close = http10, chunked = 0;
  for (uint8_t *line = memmem(b, head, "\r\n", 2) + 2; line < he; ) {
    uint8_t *eol = memmem(line, (size_t)(he + 2 - line), "\r\n", 2);
    if (!eol) break;
    size_t ll = (size_t)(eol - line);
    if (ll >= 15 && !strncasecmp((const char *)line, "content-length:", 15)) {
      /* Digits only (spaces around them allowed): a negative, signed or garbled length is a bad reply, not "until close". */
      const uint8_t *d = line + 15;
      while (d < eol && *d == ' ') d++;
      clen = 0;
      if (d >= eol || *d < '0' || *d > '9') goto bad;
      for (; d < eol && *d >= '0' && *d <= '9'; d++)
        if ((clen = clen * 10 + (*d - '0')) > HBUF) clen = HBUF + 1; /* too big for the buffer either way */
      while (d < eol && *d == ' ') d++;
      if (d != eol) goto bad;
    }
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
    if (!eof) { /* body runs until the server closes, and must fit */
      if (c->rlen >= HBUF) goto bad;
      return 0;
    }
    total = (size_t)c->rlen;
    server_close = 1;
  }
  c->served++;
  h_finish(ts, c, status, b + head, total - head, t);
  int reuse = !server_close && !c->last && (size_t)c->rlen == total && !eof;
  if (reuse) {
    c->state = H_IDLE;
    c->rlen = 0;
  } else if (c->last && !eof) {
    /* Our last request on it (we said Connection: close): reset, like --close, rather than wait for the server's FIN. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (!O.close_each) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    h_close_fd(ts, c, 0);
  } else {
    h_close_fd(ts, c, !eof); /* the server is closing it: wait for its FIN */
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

/* ------------------------------------------------------------------ WebTorrent (WebSocket) */

/*
 * The Node ws loop (ws-client.ts) in C, same model and same counting rules
 * (read that file's header): connection k is one client with one peer_id
 * hosting --torrents-per-connection torrents drawn from the popularity
 * model (stream 0x40000000 + k), keeps --window announces in flight walking
 * its torrents round-robin, each with --offers offers (random 20-byte ids
 * from the same stream, SDPs from a per-thread pool built exactly like
 * sdpPool()), answers every offer relayed to it and times the answers to
 * its own offers. Frames are byte for byte what the Node engine sends
 * (ids escaped like JSON.stringify, bytes >= 0x80 as UTF-8), so the
 * tracker cannot tell the engines apart; only the cost differs.
 */

#define WS_REOPEN_MS 250
#define WS_OFFER_MEMORY_MS 30000.0
#define WS_OFFERS_REMEMBERED 4096u
#define WS_MAX_PAYLOAD (16u << 20)
#define WS_HANDSHAKE_MS 10000
#define WS_OPEN_BATCH 50
#define WS_LEECHER_LEFT "1000000000"
/* JSON.stringify of a latin1 string given as bytes: the short escapes, \u00xx for other controls, >= 0x80 as UTF-8. */
static size_t json_str(uint8_t *o, const uint8_t *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t k = 0;
  o[k++] = '"';
  for (size_t i = 0; i < n; i++) {
    uint8_t b = s[i];
    if (b == '"' || b == '\\') { o[k++] = '\\'; o[k++] = b; }
    else if (b >= 0x20 && b < 0x80) o[k++] = b;
    else if (b >= 0x80) { o[k++] = (uint8_t)(0xc0 | (b >> 6)); o[k++] = (uint8_t)(0x80 | (b & 0x3f)); }
    else {
      o[k++] = '\\';
      switch (b) {
        case '\b': o[k++] = 'b'; break;
        case '\t': o[k++] = 't'; break;
        case '\n': o[k++] = 'n'; break;
        case '\f': o[k++] = 'f'; break;
        case '\r': o[k++] = 'r'; break;
        default: o[k++] = 'u'; o[k++] = '0'; o[k++] = '0'; o[k++] = hex[b >> 4]; o[k++] = hex[b & 15];
      }
    }
  }
  o[k++] = '"';
  return k;
}
#define JSON_ID_MAX (2 + 6 * 20)

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A literal holding a WebTorrent id (exactly 20 chars, each <= 0xFF) into its 20 bytes; 0 if it is not one. */
static int json_id_decode(const uint8_t *b, size_t s, size_t e, uint8_t out[20]) {
  int k = 0;
  for (size_t i = s + 1; i + 1 < e; i++) {
    unsigned v = b[i];
    if (v == '\\') {
      uint8_t x = b[++i];
      switch (x) {
        case 'b': v = '\b'; break;
        case 't': v = '\t'; break;
        case 'n': v = '\n'; break;
        case 'f': v = '\f'; break;
        case 'r': v = '\r'; break;
        case 'u': {
          if (i + 4 >= e) return 0;
          int h0 = hexval(b[i + 1]), h1 = hexval(b[i + 2]), h2 = hexval(b[i + 3]), h3 = hexval(b[i + 4]);
          if ((h0 | h1 | h2 | h3) < 0) return 0;
          v = (unsigned)(h0 << 12 | h1 << 8 | h2 << 4 | h3);
          i += 4;
          break;
        }
        default: v = x;
      }
    } else if (v >= 0x80) {
      if ((v != 0xc2 && v != 0xc3) || i + 2 >= e || (b[i + 1] & 0xc0) != 0x80) return 0;
      v = ((v & 0x1f) << 6) | (b[++i] & 0x3f);
    }
    if (v > 0xff || k >= 20) return 0;
    out[k++] = (uint8_t)v;
  }
  return k == 20;
}

/* ---- fake SDPs, exactly as ws-client.ts's fakeSdp() / sdpPool() / sdpJsonPool() */

static void sdp_append(char **s, size_t *n, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void sdp_append(char **s, size_t *n, size_t *cap, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(*s + *n, *cap - *n, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < *cap - *n) { *n += (size_t)k; return; }
    *cap = *cap * 2 + (size_t)(k > 0 ? k : 256);
    *s = realloc(*s, *cap);
    if (!*s) { fprintf(stderr, "udpgen: out of memory for SDPs\n"); exit(1); }
  }
}

static void random_text(sfc32 *r, char *out, int n) {
  static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
  for (int i = 0; i < n; i++) out[i] = alnum[sfc_below(r, 64)];
  out[n] = 0;
}

/* `{"type":"offer","sdp":"..."}` of one fake data-channel SDP of about `bytes` bytes. */
static uint8_t *fake_sdp_json(sfc32 *r, int offer, uint32_t bytes, size_t *out_len) {
  static const char hexu[] = "0123456789ABCDEF";
  char fp[32 * 3], ufrag[5], pwd[25];
  for (int i = 0; i < 32; i++) {
    fp[3 * i] = hexu[sfc_below(r, 16)];
    fp[3 * i + 1] = hexu[sfc_below(r, 16)];
    fp[3 * i + 2] = i < 31 ? ':' : 0;
  }
  size_t cap = 4096, n = 0, tn = 0, tcap = 1024;
  char *s = malloc(cap), *tail = malloc(tcap);
  uint32_t o1 = 1000000000u + sfc_below(r, 2000000000u), o2 = sfc_below(r, 1000000000u);
  sdp_append(&s, &n, &cap,
             "v=0\r\no=- %u%u 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\n"
             "a=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n",
             o1, o2);
  random_text(r, ufrag, 4);
  random_text(r, pwd, 24);
  sdp_append(&tail, &tn, &tcap,
             "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\na=fingerprint:sha-256 %s\r\na=setup:%s\r\n"
             "a=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n",
             ufrag, pwd, fp, offer ? "actpass" : "active");
  for (int c = 0; n + tn < bytes; c++) {
    uint32_t foundation = 1000000000u + sfc_below(r, 3000000000u), port = 49152 + sfc_below(r, 16384);
    int srflx = c % 2 == 1;
    char ip[32];
    if (srflx) snprintf(ip, sizeof ip, "203.0.113.%u", 1 + sfc_below(r, 254));
    else {
      uint32_t x = sfc_below(r, 256);
      snprintf(ip, sizeof ip, "192.168.%u.%u", x, 1 + sfc_below(r, 254));
    }
    sdp_append(&s, &n, &cap, "a=candidate:%u 1 udp %u %s %u typ %s generation 0 network-id %d\r\n", foundation,
               srflx ? 1686052607u : 2122260223u, ip, port, srflx ? "srflx raddr 0.0.0.0 rport 0" : "host", 1 + (c >> 1));
  }
  sdp_append(&s, &n, &cap, "%s", tail);
  free(tail);
  const char *head = offer ? "{\"type\":\"offer\",\"sdp\":" : "{\"type\":\"answer\",\"sdp\":";
  size_t hl = strlen(head);
  uint8_t *j = malloc(hl + 2 + 6 * n + 1);
  memcpy(j, head, hl);
  size_t k = hl + json_str(j + hl, (const uint8_t *)s, n);
  j[k++] = '}';
  free(s);
  *out_len = k;
  return j;
}

static void sdp_pool_init(sdp_pool *p, int worker, int offer) {
  uint32_t seed = mix3(O.seed, (uint32_t)worker, 0x5d9);
  sfc32 r;
  sfc_seed(&r, seed, 0x5d900000u + (uint32_t)worker * 2 + (offer ? 0 : 1));
  p->max_len = 0;
  for (int i = 0; i < WS_SDP_POOL; i++) {
    uint32_t bytes = (uint32_t)O.sdp_min + sfc_below(&r, (uint32_t)(O.sdp_max - O.sdp_min + 1));
    p->json[i] = fake_sdp_json(&r, offer, bytes, &p->len[i]);
    if (p->len[i] > p->max_len) p->max_len = p->len[i];
  }
}

/* ---- our offers awaiting answers: insertion-ordered (a ring) with an id index (linear probing) */

typedef struct {
  uint8_t (*ids)[20];
  double *at; /* 0 = answered or forgotten */
  uint32_t cap, head, tail, live; /* head / tail count up; slot = n & (cap - 1) */
  uint32_t *tab;                  /* slot + 1, 0 = empty; 2 * cap entries */
} offer_store;

static inline uint32_t offer_hash(const uint8_t id[20], uint32_t mask) {
  uint64_t k;
  memcpy(&k, id, 8);
  return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static void offer_index(offer_store *s, uint32_t slot) {
  uint32_t mask = 2 * s->cap - 1, h = offer_hash(s->ids[slot], mask);
  while (s->tab[h]) h = (h + 1) & mask;
  s->tab[h] = slot + 1;
}

/* Remove table entry h, shifting later entries of the probe run back (no tombstones). */
static void offer_unindex_at(offer_store *s, uint32_t h) {
  uint32_t mask = 2 * s->cap - 1;
  s->tab[h] = 0;
  for (uint32_t j = (h + 1) & mask; s->tab[j]; j = (j + 1) & mask) {
    uint32_t home = offer_hash(s->ids[s->tab[j] - 1], mask);
    /* Move j back into the hole when its home is not within (h, j]. */
    if (((j - home) & mask) >= ((j - h) & mask)) {
      s->tab[h] = s->tab[j];
      s->tab[j] = 0;
      h = j;
    }
  }
}

static int offer_find(offer_store *s, const uint8_t id[20], uint32_t *at_h) {
  if (!s->cap) return -1;
  uint32_t mask = 2 * s->cap - 1;
  for (uint32_t h = offer_hash(id, mask); s->tab[h]; h = (h + 1) & mask) {
    uint32_t slot = s->tab[h] - 1;
    if (!memcmp(s->ids[slot], id, 20)) { *at_h = h; return (int)slot; }
  }
  return -1;
}

static void offer_unindex(offer_store *s, uint32_t slot) {
  uint32_t h;
  if (offer_find(s, s->ids[slot], &h) == (int)slot) offer_unindex_at(s, h);
}

/* Rebuild with capacity `cap`, keeping the live entries in order. */
static void offer_rebuild(offer_store *s, uint32_t cap) {
  uint8_t(*ids)[20] = malloc((size_t)cap * 20);
  double *at = malloc(sizeof(double) * cap);
  uint32_t n = 0;
  for (uint32_t i = s->head; i != s->tail; i++) {
    uint32_t slot = i & (s->cap - 1);
    if (s->at[slot] > 0) {
      memcpy(ids[n], s->ids[slot], 20);
      at[n++] = s->at[slot];
    }
  }
  free(s->ids);
  free(s->at);
  free(s->tab);
  s->ids = ids;
  s->at = at;
  s->cap = cap;
  s->head = 0;
  s->tail = n;
  s->live = n;
  s->tab = calloc(2 * (size_t)cap, sizeof(uint32_t));
  for (uint32_t i = 0; i < n; i++) offer_index(s, i);
}

static void offer_pop_head(offer_store *s) {
  uint32_t slot = s->head & (s->cap - 1);
  if (s->at[slot] > 0) {
    offer_unindex(s, slot);
    s->at[slot] = 0;
    s->live--;
  }
  s->head++;
}

static void offer_put(offer_store *s, const uint8_t id[20], double t) {
  if (!s->cap) offer_rebuild(s, 64);
  /* Like the Node loop's Map: at most WS_OFFERS_REMEMBERED, the oldest goes. */
  while (s->live >= WS_OFFERS_REMEMBERED) offer_pop_head(s);
  while (s->head != s->tail && s->at[s->head & (s->cap - 1)] == 0) s->head++;
  if (s->tail - s->head == s->cap) offer_rebuild(s, s->live * 2 <= s->cap ? s->cap : s->cap * 2);
  uint32_t slot = s->tail & (s->cap - 1);
  memcpy(s->ids[slot], id, 20);
  s->at[slot] = t;
  offer_index(s, slot);
  s->tail++;
  s->live++;
}

/* The send time of our offer `id` (and forget it), or 0. */
static double offer_take(offer_store *s, const uint8_t id[20]) {
  uint32_t h;
  int slot = offer_find(s, id, &h);
  if (slot < 0) return 0;
  double at = s->at[slot];
  s->at[slot] = 0;
  offer_unindex_at(s, h);
  s->live--;
  return at;
}

static void offer_expire(offer_store *s, double t) {
  while (s->head != s->tail) {
    double at = s->at[s->head & (s->cap - 1)];
    if (at > 0 && t - at <= WS_OFFER_MEMORY_MS) break;
    offer_pop_head(s);
  }
}

static void offer_clear(offer_store *s) {
  if (!s->cap) return;
  memset(s->tab, 0, 2 * (size_t)s->cap * sizeof(uint32_t));
  for (uint32_t i = s->head; i != s->tail; i++) s->at[i & (s->cap - 1)] = 0;
  s->head = s->tail = s->live = 0;
}

/* ---- one connection */

enum { W_CLOSED = 0, W_CONNECTING = 1, W_HANDSHAKE = 2, W_OPEN = 3 };

struct wconn {
  int fd, state, opened, armed_out;
  uint32_t index, source;
  sfc32 rng;
  uint8_t peer[20];
  int ntor, cursor, in_flight, paused;
  uint8_t (*hashes)[20];
  uint8_t *seeder, *started;
  double *sent_at;
  int32_t *pos; /* open addressing on the hash's first word (a bijection of the torrent index): position + 1 */
  uint32_t pos_mask;
  double scrape_sent_at, reopen_at, handshake_deadline;
  double pause_until[WS_MAX_WINDOW];
  uint8_t last_offer_ids[50][20]; /* the latest announce's (for --print-ws-frames) */
  offer_store offers;
  wbuf in, out, frag;
  int frag_op;
};

static __thread uint8_t *w_taken; /* one bit per torrent, while a thread's connections pick theirs */

static int w_position(const wconn *c, const uint8_t h[20]) {
  for (uint32_t k = get32(h) & c->pos_mask;; k = (k + 1) & c->pos_mask) {
    int32_t p = c->pos[k];
    if (!p) return -1;
    if (!memcmp(c->hashes[p - 1], h, 20)) return p - 1;
  }
}

/* WsFlow's constructor: the client's peer_id, torrents (distinct), seeder flags. */
static void w_init(wconn *c, uint32_t index) {
  c->fd = -1;
  c->index = index;
  c->source = index % (uint32_t)O.sources;
  peer_id(c->source, (index / (uint32_t)O.sources) % (uint32_t)O.ports_per_source, c->peer);
  sfc_seed(&c->rng, O.seed, 0x40000000u + index);
  int n = O.ws_torrents < O.torrents ? O.ws_torrents : O.torrents;
  c->ntor = n;
  c->hashes = malloc((size_t)n * 20);
  c->seeder = calloc((size_t)n, 1);
  c->started = calloc((size_t)n, 1);
  c->sent_at = calloc((size_t)n, sizeof(double));
  uint32_t size = 4;
  while (size < 2 * (uint32_t)n) size *= 2;
  c->pos = calloc(size, sizeof(int32_t));
  c->pos_mask = size - 1;
  uint32_t *picked = malloc(sizeof(uint32_t) * (size_t)n);
#define TAKEN(t) (w_taken[(t) >> 3] & (1u << ((t) & 7)))
  for (int i = 0; i < n; i++) {
    uint32_t t = sample_torrent(&c->rng);
    for (int tries = 0; TAKEN(t) && tries < 32; tries++) t = sample_torrent(&c->rng);
    while (TAKEN(t)) t = (t + 1) % (uint32_t)O.torrents;
    w_taken[t >> 3] |= (uint8_t)(1u << (t & 7));
    picked[i] = t;
    torrent_hash(t, c->hashes[i]);
    uint32_t k = get32(c->hashes[i]) & c->pos_mask;
    while (c->pos[k]) k = (k + 1) & c->pos_mask;
    c->pos[k] = i + 1;
    c->seeder[i] = sfc_double(&c->rng) < O.seeder_share;
  }
#undef TAKEN
  for (int i = 0; i < n; i++) w_taken[picked[i] >> 3] = 0;
  free(picked);
}

/* Client frames: masked, with the all-zero mask (the payload goes as is; a server cannot tell). */
static uint8_t *w_frame_begin(wconn *c, size_t max_payload) { return ws_frame_begin(&c->out, max_payload); }
static void w_frame_end(wconn *c, int opcode, size_t n) { ws_frame_end(&c->out, opcode, n, 1); }

static void w_count_sent(thread_state *ts, double t) {
  atomic_fetch_add_explicit(&ts->live.sent, 1, memory_order_relaxed);
  COUNT(ts, sent, t);
}

#define WS_COUNT(ts, field, t, n)                   \
  do {                                              \
    if (in_window(t)) (ts)->wc.field += (n);        \
  } while (0)

/* sendNext(): one announce (or scrape); 0 when every torrent already has one in flight. */
static int w_send_next(thread_state *ts, wconn *c, double t) {
  plan_t p;
  plan_request(&c->rng, &p);
  if (p.scrape && c->scrape_sent_at == 0) {
    uint8_t *s = w_frame_begin(c, 40 + (size_t)p.count * (JSON_ID_MAX + 1)), *o = s, h[20];
    PUT_LIT(o, "{\"action\":\"scrape\",\"info_hash\":[");
    for (uint32_t i = 0; i < p.count; i++) {
      if (i) *o++ = ',';
      torrent_hash(p.picked[i], h);
      o += json_str(o, h, 20);
    }
    PUT_LIT(o, "]}");
    w_frame_end(c, 1, (size_t)(o - s));
    c->scrape_sent_at = t;
    c->in_flight++;
    w_count_sent(ts, t);
    return 1;
  }
  int i = -1;
  for (int k = 0; k < c->ntor; k++) {
    int cc = (c->cursor + k) % c->ntor;
    if (c->sent_at[cc] == 0) { i = cc; break; }
  }
  if (i < 0) return 0;
  c->cursor = (i + 1) % c->ntor;
  int n = O.ws_offers;
  uint8_t *s = w_frame_begin(c, 320 + 2 * JSON_ID_MAX + (size_t)n * (ts->offer_sdps.max_len + JSON_ID_MAX + 32)), *o = s;
  int first = !c->started[i];
  PUT_LIT(o, "{\"action\":\"announce\",\"info_hash\":");
  o += json_str(o, c->hashes[i], 20);
  PUT_LIT(o, ",\"peer_id\":");
  o += json_str(o, c->peer, 20);
  PUT_LIT(o, ",\"uploaded\":0,\"downloaded\":0,\"left\":");
  if (c->seeder[i]) *o++ = '0';
  else PUT_LIT(o, WS_LEECHER_LEFT);
  if (first) PUT_LIT(o, ",\"event\":\"started\"");
  o += sprintf((char *)o, ",\"numwant\":%d,\"offers\":[", n);
  for (int k = 0; k < n; k++) {
    uint8_t *id = c->last_offer_ids[k];
    for (int w = 0; w < 5; w++) put32(id + 4 * w, sfc_next(&c->rng));
    int sdp = (int)sfc_below(&c->rng, WS_SDP_POOL);
    offer_put(&c->offers, id, t);
    if (k) *o++ = ',';
    PUT_LIT(o, "{\"offer\":");
    o = put_text(o, (const char *)ts->offer_sdps.json[sdp], ts->offer_sdps.len[sdp]);
    PUT_LIT(o, ",\"offer_id\":");
    o += json_str(o, id, 20);
    *o++ = '}';
  }
  PUT_LIT(o, "]}");
  w_frame_end(c, 1, (size_t)(o - s));
  c->started[i] = 1;
  c->sent_at[i] = t;
  c->in_flight++;
  w_count_sent(ts, t);
  WS_COUNT(ts, offers_sent, t, (uint64_t)n);
  return 1;
}

/* answerFrame(): answer a relayed offer, its ids copied as the literals the tracker sent. */
static void w_answer(thread_state *ts, wconn *c, const uint8_t *b, size_t ih_s, size_t ih_e, size_t pid_s, size_t pid_e,
                     size_t oid_s, size_t oid_e) {
  int sdp = (int)sfc_below(&c->rng, WS_SDP_POOL);
  size_t ihl = ih_e - ih_s, pidl = pid_e - pid_s, oidl = oid_e - oid_s;
  uint8_t *s = w_frame_begin(c, 100 + JSON_ID_MAX + ihl + pidl + oidl + ts->answer_sdps.len[sdp]), *o = s;
  PUT_LIT(o, "{\"action\":\"announce\",\"info_hash\":");
  o = put_text(o, (const char *)b + ih_s, ihl);
  PUT_LIT(o, ",\"peer_id\":");
  o += json_str(o, c->peer, 20);
  PUT_LIT(o, ",\"to_peer_id\":");
  o = put_text(o, (const char *)b + pid_s, pidl);
  PUT_LIT(o, ",\"answer\":");
  o = put_text(o, (const char *)ts->answer_sdps.json[sdp], ts->answer_sdps.len[sdp]);
  PUT_LIT(o, ",\"offer_id\":");
  o = put_text(o, (const char *)b + oid_s, oidl);
  *o++ = '}';
  w_frame_end(c, 1, (size_t)(o - s));
}

static void w_fill(thread_state *ts, wconn *c, double t) {
  while (c->state == W_OPEN && ts->ws_running && t < t_measure_end && c->in_flight + c->paused < O.window) {
    if (!w_send_next(ts, c, t)) break;
  }
}

/* A slot is free again: refill now, or after --interval-ms. */
static void w_freed(thread_state *ts, wconn *c, double t) {
  if (O.ws_interval_ms <= 0) { w_fill(ts, c, t); return; }
  c->pause_until[c->paused++] = t + O.ws_interval_ms;
  ts->ws_paused++;
}

static void w_reply(thread_state *ts, const char *kind, double t, double lat_us) {
  atomic_fetch_add_explicit(&ts->live.replies, 1, memory_order_relaxed);
  if (!in_window(t)) return;
  if (kind[0] == 'a') ts->c.announces++;
  else ts->c.scrapes++;
  ts->hist[bucket_of(lat_us)]++;
  ts->hist_count++;
  ts->hist_sum += lat_us;
  if (lat_us > ts->hist_max) ts->hist_max = lat_us;
}

static void w_count_invalid(thread_state *ts, double t, const char *why) {
  COUNT(ts, invalid, t);
  atomic_fetch_add_explicit(&ts->live.invalid, 1, memory_order_relaxed);
  note_error(ts, (const uint8_t *)why, strlen(why));
}

static int ci_contains(const uint8_t *b, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++) {
    size_t j = 0;
    while (j < k && (b[i + j] | 0x20) == needle[j]) j++;
    if (j == k) return 1;
  }
  return 0;
}

/* One text frame from the tracker (the Node loop's scanRelayed + onRelayed / onMessage). */
static void w_message(thread_state *ts, wconn *c, const uint8_t *b, size_t n, double t) {
  size_t ih_s, ih_e, s, e, pid_s, pid_e, oid_s, oid_e;
  uint8_t id[20];
  int offer = HAS_KEY(b, n, "\"offer\":{");
  if ((offer || HAS_KEY(b, n, "\"answer\":{")) && LIT_AFTER(b, n, "\"info_hash\":", &ih_s, &ih_e) &&
      LIT_AFTER(b, n, "\"peer_id\":", &pid_s, &pid_e) && LIT_AFTER(b, n, "\"offer_id\":", &oid_s, &oid_e)) {
    if (offer) {
      atomic_fetch_add_explicit(&ts->live.offers_in, 1, memory_order_relaxed);
      WS_COUNT(ts, offers_received, t, 1);
      if (!O.ws_answer || c->state != W_OPEN) return;
      w_answer(ts, c, b, ih_s, ih_e, pid_s, pid_e, oid_s, oid_e);
      WS_COUNT(ts, answers_sent, t, 1);
      return;
    }
    atomic_fetch_add_explicit(&ts->live.answers_in, 1, memory_order_relaxed);
    WS_COUNT(ts, answers_received, t, 1);
    double at = json_id_decode(b, oid_s, oid_e, id) ? offer_take(&c->offers, id) : 0;
    if (at > 0 && in_window(t)) {
      double us = (t - at) * 1000;
      ts->wc.answers_matched++;
      ts->sig[bucket_of(us)]++;
      ts->sig_count++;
      ts->sig_sum += us;
      if (us > ts->sig_max) ts->sig_max = us;
    }
    return;
  }
  if (n == 0 || b[0] != '{') { w_count_invalid(ts, t, "invalid: not a JSON object"); return; }
  int have_ih = LIT_AFTER(b, n, "\"info_hash\":", &ih_s, &ih_e) && json_id_decode(b, ih_s, ih_e, id);
  int action_scrape = 0, action_announce = 0;
  if (LIT_AFTER(b, n, "\"action\":", &s, &e)) {
    action_scrape = e - s == 8 && !memcmp(b + s, "\"scrape\"", 8);
    action_announce = e - s == 10 && !memcmp(b + s, "\"announce\"", 10);
  }
  if (LIT_AFTER(b, n, "\"failure reason\":", &s, &e)) {
    note_error(ts, b + s + 1, e - s - 2);
    if (ci_contains(b + s, e - s, "answer") || ci_contains(b + s, e - s, "offering peer")) {
      WS_COUNT(ts, answer_errors, t, 1);
      return;
    }
    COUNT(ts, errors, t);
    atomic_fetch_add_explicit(&ts->live.errors, 1, memory_order_relaxed);
    if (action_scrape && c->scrape_sent_at > 0) {
      c->scrape_sent_at = 0;
      c->in_flight--;
      w_freed(ts, c, t);
      return;
    }
    int i = have_ih ? w_position(c, id) : -1;
    if (i >= 0 && c->sent_at[i] > 0) {
      c->sent_at[i] = 0;
      c->in_flight--;
      w_freed(ts, c, t);
    }
    return;
  }
  if (action_scrape) {
    if (!HAS_KEY(b, n, "\"files\":{")) { w_count_invalid(ts, t, "invalid: missing files"); return; }
    if (c->scrape_sent_at == 0) { w_count_invalid(ts, t, "scrape reply matching no scrape in flight"); return; }
    double lat = (t - c->scrape_sent_at) * 1000;
    c->scrape_sent_at = 0;
    c->in_flight--;
    w_reply(ts, "scrapes", t, lat);
    w_freed(ts, c, t);
    return;
  }
  if (!action_announce) { w_count_invalid(ts, t, "invalid: invalid action"); return; }
  if (!have_ih) { w_count_invalid(ts, t, "invalid: invalid info_hash"); return; }
  if (HAS_KEY(b, n, "\"offer\":") || HAS_KEY(b, n, "\"answer\":")) { w_count_invalid(ts, t, "invalid: invalid offer or answer"); return; }
  if (!HAS_KEY(b, n, "\"interval\":")) { w_count_invalid(ts, t, "invalid: invalid interval"); return; }
  int i = w_position(c, id);
  if (i < 0 || c->sent_at[i] == 0) { w_count_invalid(ts, t, "announce reply matching no announce in flight"); return; }
  double lat = (t - c->sent_at[i]) * 1000;
  c->sent_at[i] = 0;
  c->in_flight--;
  w_reply(ts, "announces", t, lat);
  w_freed(ts, c, t);
}

static void w_set_state(thread_state *ts, wconn *c, int state) {
  int was_pending = c->state == W_CONNECTING || c->state == W_HANDSHAKE;
  int pending = state == W_CONNECTING || state == W_HANDSHAKE;
  ts->ws_pending += pending - was_pending;
  c->state = state;
}

/* The socket is gone (onClosed): requests in flight are lost; reopen shortly. */
static void w_closed(thread_state *ts, wconn *c, double t, const char *why) {
  if (c->fd < 0) return;
  if (ts->ws_running && why) {
    COUNT(ts, socket_errors, t);
    note_error(ts, (const uint8_t *)why, strlen(why));
  }
  close(c->fd);
  c->fd = -1;
  w_set_state(ts, c, W_CLOSED);
  c->armed_out = 0;
  c->in.len = c->out.len = c->out.off = c->frag.len = 0;
  for (int i = 0; i < c->ntor; i++) {
    if (c->sent_at[i] > 0) {
      c->sent_at[i] = 0;
      COUNT(ts, lost, t);
      atomic_fetch_add_explicit(&ts->live.lost, 1, memory_order_relaxed);
    }
  }
  if (c->scrape_sent_at > 0) {
    c->scrape_sent_at = 0;
    COUNT(ts, lost, t);
    atomic_fetch_add_explicit(&ts->live.lost, 1, memory_order_relaxed);
  }
  c->in_flight = 0;
  offer_clear(&c->offers);
  ts->ws_paused -= c->paused;
  c->paused = 0;
  c->reopen_at = t + WS_REOPEN_MS;
}

static void w_errno_closed(thread_state *ts, wconn *c, double t, int err) {
  char msg[80];
  snprintf(msg, sizeof msg, "socket: %s", strerror(err));
  w_closed(ts, c, t, msg);
}

static void w_open(thread_state *ts, wconn *c, double t) {
  c->reopen_at = 0;
  if (c->opened++ > 0) {
    COUNT(ts, reconnects, t);
    WS_COUNT(ts, reopened, t, 1);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  if (fd < 0) { c->reopen_at = t + WS_REOPEN_MS; return; }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  w_set_state(ts, c, W_CONNECTING);
  c->handshake_deadline = t + WS_HANDSHAKE_MS;
  if (connect_from(fd, c->source) < 0) {
    w_errno_closed(ts, c, t, errno);
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(ts->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void w_flush(thread_state *ts, wconn *c, double t) {
  while (c->fd >= 0 && c->out.off < c->out.len) {
    ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
    if (n > 0) { c->out.off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->armed_out) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ts->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->armed_out = 1;
      }
      return;
    }
    w_errno_closed(ts, c, t, errno);
    return;
  }
  c->out.len = c->out.off = 0;
  if (c->armed_out && c->fd >= 0) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ts->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->armed_out = 0;
  }
}

/* Complete frames at the start of c->in (fragments joined, pings answered, a close frame closes). */
static void w_frames(thread_state *ts, wconn *c, double t) {
  size_t off = 0;
  ws_frame f;
  while (c->fd >= 0 && ws_frame_parse(c->in.p + off, c->in.len - off, &f)) {
    size_t avail = c->in.len - off;
    if (f.len > WS_MAX_PAYLOAD) { w_closed(ts, c, t, "socket: frame over 16 MiB"); return; }
    if ((f.opcode == 0 || !f.fin) && c->frag.len + f.len > WS_MAX_PAYLOAD) {
      /* Fragments that never end would grow c->frag without bound. */
      w_closed(ts, c, t, "socket: message over 16 MiB");
      return;
    }
    if (avail < f.head + f.len) {
      wbuf_reserve(&c->in, f.head + f.len - avail); /* room for the rest of this frame */
      break;
    }
    uint8_t *pl = c->in.p + off + f.head;
    uint64_t n = f.len;
    int op = f.opcode;
    ws_unmask(pl, n, f.mask);
    off += f.head + n;
    if (op == 1 || op == 2 || op == 0) {
      /* A message split into fragments is joined in c->frag (control frames may come in between). */
      if ((op != 0) == (c->frag_op != 0)) {
        w_closed(ts, c, t, op ? "socket: new message inside a fragmented one" : "socket: continuation without a message");
        return;
      }
      if (op == 0 || !f.fin) {
        if (op != 0) c->frag_op = op;
        wbuf_reserve(&c->frag, n);
        memcpy(c->frag.p + c->frag.len, pl, n);
        c->frag.len += n;
        if (!f.fin) continue;
        pl = c->frag.p;
        n = c->frag.len;
        op = c->frag_op;
        c->frag_op = 0;
        c->frag.len = 0;
      }
      if (op == 1) w_message(ts, c, pl, n, t);
      else w_count_invalid(ts, t, "invalid: not a JSON object"); /* binary: the Node loop parses '' */
    } else if (op == 8) {
      char msg[64];
      snprintf(msg, sizeof msg, "closed by the server (%u)", n >= 2 ? (unsigned)(pl[0] << 8 | pl[1]) : 1005u);
      w_closed(ts, c, t, msg);
      return;
    } else if (op == 9) {
      uint8_t *o = w_frame_begin(c, n);
      memcpy(o, pl, n);
      w_frame_end(c, 10, n);
    }
  }
  if (c->fd < 0) return;
  if (off) {
    memmove(c->in.p, c->in.p + off, c->in.len - off);
    c->in.len -= off;
  }
}

/* The 101 reply to our upgrade request; frames may follow it in the same read. */
static void w_handshake_reply(thread_state *ts, wconn *c, double t) {
  uint8_t *he = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
  if (!he) {
    if (c->in.len > 8192) w_closed(ts, c, t, "socket: oversized handshake reply");
    return;
  }
  if (c->in.len < 12 || memcmp(c->in.p, "HTTP/1.1 101", 12) != 0) {
    char msg[64];
    snprintf(msg, sizeof msg, "socket: Unexpected server response: %.3s", c->in.len >= 12 ? (char *)c->in.p + 9 : "?");
    w_closed(ts, c, t, msg);
    return;
  }
  size_t head = (size_t)(he - c->in.p) + 4;
  memmove(c->in.p, c->in.p + head, c->in.len - head);
  c->in.len -= head;
  w_set_state(ts, c, W_OPEN);
  w_fill(ts, c, t);
}

static void w_event(thread_state *ts, wconn *c, uint32_t events, double t) {
  if (c->fd < 0) return;
  if (c->state == W_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) { w_errno_closed(ts, c, t, err); return; }
    if (!(events & EPOLLOUT)) return;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                     O.ws_path, O.host, O.port);
    wbuf_reserve(&c->out, (size_t)n);
    memcpy(c->out.p + c->out.len, req, (size_t)n);
    c->out.len += (size_t)n;
    w_set_state(ts, c, W_HANDSHAKE);
    c->armed_out = 1; /* registered with EPOLLOUT: w_flush drops it once written */
    w_flush(ts, c, t);
    return;
  }
  if (events & EPOLLOUT) w_flush(ts, c, t);
  if (c->fd < 0 || !(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  for (;;) {
    wbuf_reserve(&c->in, 16384);
    size_t room = c->in.cap - c->in.len;
    ssize_t n = read(c->fd, c->in.p + c->in.len, room);
    if (n > 0) {
      c->in.len += (size_t)n;
      if (c->state == W_HANDSHAKE) w_handshake_reply(ts, c, t);
      if (c->fd >= 0 && c->state == W_OPEN) w_frames(ts, c, t);
      if (c->fd < 0) return;
      if ((size_t)n < room) break; /* drained: level-triggered epoll reports more */
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) w_errno_closed(ts, c, t, errno);
    else w_closed(ts, c, t, c->state == W_OPEN ? "closed by the server (1006)" : "socket: closed during the handshake");
    return;
  }
  w_flush(ts, c, t);
}

/*
 * Every 10 ms: reopens and handshakes that never finished; with `sweep`
 * (the Node loop's sweep period) also timeouts and old offers, a walk over
 * every torrent of every connection.
 */
static void w_timers(thread_state *ts, double t, int sweep) {
  for (int k = 0; k < ts->nflows; k++) {
    wconn *c = &ts->wconns[k];
    if (c->fd < 0) {
      if (ts->ws_running && c->reopen_at > 0 && t >= c->reopen_at) w_open(ts, c, t);
      continue;
    }
    if ((c->state == W_CONNECTING || c->state == W_HANDSHAKE) && t > c->handshake_deadline) {
      w_closed(ts, c, t, "socket: handshake timed out");
      continue;
    }
    if (!sweep) continue;
    int freed = 0;
    for (int i = 0; i < c->ntor; i++) {
      if (c->sent_at[i] > 0 && t - c->sent_at[i] > O.timeout_ms) {
        c->sent_at[i] = 0;
        c->in_flight--;
        freed++;
        COUNT(ts, lost, t);
        atomic_fetch_add_explicit(&ts->live.lost, 1, memory_order_relaxed);
      }
    }
    if (c->scrape_sent_at > 0 && t - c->scrape_sent_at > O.timeout_ms) {
      c->scrape_sent_at = 0;
      c->in_flight--;
      freed++;
      COUNT(ts, lost, t);
      atomic_fetch_add_explicit(&ts->live.lost, 1, memory_order_relaxed);
    }
    offer_expire(&c->offers, t);
    if (freed) {
      w_fill(ts, c, t);
      w_flush(ts, c, t);
    }
  }
}

/* Slots whose --interval-ms pause is over announce again. */
static void w_unpause(thread_state *ts, double t) {
  for (int k = 0; k < ts->nflows && ts->ws_paused > 0; k++) {
    wconn *c = &ts->wconns[k];
    int due = 0;
    for (int i = 0; i < c->paused;) {
      if (c->pause_until[i] <= t) {
        c->pause_until[i] = c->pause_until[--c->paused];
        ts->ws_paused--;
        due++;
      } else i++;
    }
    if (due && c->fd >= 0) {
      w_fill(ts, c, t);
      w_flush(ts, c, t);
    }
  }
}

static void w_thread_setup(thread_state *ts) {
  w_taken = calloc((size_t)O.torrents / 8 + 1, 1);
  sdp_pool_init(&ts->offer_sdps, ts->id, 1);
  sdp_pool_init(&ts->answer_sdps, ts->id, 0);
  for (int k = 0; k < ts->nflows; k++) w_init(&ts->wconns[k], (uint32_t)(ts->first + k));
}

static atomic_int ws_ready, ws_go;

static void *ws_thread_main(void *arg) {
  thread_state *ts = arg;
  struct epoll_event evs[256];
  w_thread_setup(ts);
  /* Open every connection first, WS_OPEN_BATCH handshakes at a time, like the Node loop's open(). */
  double t = now_ms(), open_end = t + WS_HANDSHAKE_MS;
  int next = 0;
  while (t < open_end) {
    while (next < ts->nflows && ts->ws_pending < WS_OPEN_BATCH) w_open(ts, &ts->wconns[next++], t);
    if (next >= ts->nflows && ts->ws_pending == 0) break;
    int n = epoll_wait(ts->ep, evs, 256, 5);
    t = now_ms();
    for (int e = 0; e < n; e++) w_event(ts, evs[e].data.ptr, evs[e].events, t);
  }
  atomic_fetch_add(&ws_ready, 1);
  while (!atomic_load(&ws_go)) {
    struct timespec ws = {.tv_sec = 0, .tv_nsec = 1000000};
    nanosleep(&ws, NULL);
  }
  ts->ws_running = 1;
  t = now_ms();
  for (int k = 0; k < ts->nflows; k++) {
    wconn *c = &ts->wconns[k];
    if (c->state == W_OPEN) {
      w_fill(ts, c, t);
      w_flush(ts, c, t);
    } else if (c->fd < 0) c->reopen_at = t + WS_REOPEN_MS;
  }
  double period = O.timeout_ms / 4 < 10 ? 10 : O.timeout_ms / 4 > 100 ? 100 : O.timeout_ms / 4;
  double next_sweep = t + period, next_timer = t + 10;
  while ((t = now_ms()) < t_measure_end) {
    int n = epoll_wait(ts->ep, evs, 256, ts->ws_paused > 0 ? 1 : 5);
    t = now_ms();
    for (int e = 0; e < n; e++) w_event(ts, evs[e].data.ptr, evs[e].events, t);
    if (ts->ws_paused > 0) w_unpause(ts, t);
    if (t >= next_timer) {
      w_timers(ts, t, t >= next_sweep);
      if (t >= next_sweep) next_sweep = t + period;
      next_timer = t + 10;
    }
  }
  ts->ws_running = 0;
  for (int k = 0; k < ts->nflows; k++)
    if (ts->wconns[k].fd >= 0) close(ts->wconns[k].fd);
  return NULL;
}

/*
 * --print-ws-frames N: the first N frames connection --print-ws-connection
 * sends when every request is answered at once and the first offer of every
 * announce comes back from ws-echo.ts's fake peer (and is answered), one
 * payload a line. The unit tests compare them with the Node loop's.
 */
static int ws_print_frames(void) {
  int c_index = O.print_ws_connection;
  if (c_index < 0 || c_index >= O.sockets) { fprintf(stderr, "udpgen: --print-ws-connection out of range\n"); return 2; }
  int per = O.sockets / O.threads, extra = O.sockets % O.threads, first = 0, worker = 0;
  for (; worker < O.threads; worker++) {
    int cnt = per + (worker < extra ? 1 : 0);
    if (c_index < first + cnt) break;
    first += cnt;
  }
  static thread_state ts;
  w_taken = calloc((size_t)O.torrents / 8 + 1, 1);
  ts.id = worker;
  ts.ws_running = 1;
  ts.ep = -1;
  sdp_pool_init(&ts.offer_sdps, worker, 1);
  sdp_pool_init(&ts.answer_sdps, worker, 0);
  wconn *c = calloc(1, sizeof *c);
  w_init(c, (uint32_t)c_index);
  w_set_state(&ts, c, W_OPEN);
  t_measure_end = 1e300;
  static const uint8_t echo_peer[20] = "-WSECHO-000000000000";
  for (int k = 0; k < O.print_ws_frames; k++) {
    if (!w_send_next(&ts, c, 1)) break;
    if (c->scrape_sent_at > 0) {
      c->scrape_sent_at = 0;
      c->in_flight--;
    }
    for (int i = 0; i < c->ntor; i++) {
      if (c->sent_at[i] == 0) continue;
      c->sent_at[i] = 0;
      c->in_flight--;
      if (O.ws_offers > 0 && O.ws_answer) {
        uint8_t f[3 * JSON_ID_MAX + 64];
        size_t o = 0, ih = o;
        o += json_str(f + o, c->hashes[i], 20);
        size_t pid = o;
        o += json_str(f + o, echo_peer, 20);
        size_t oid = o;
        o += json_str(f + o, c->last_offer_ids[0], 20);
        w_answer(&ts, c, f, ih, pid, pid, oid, oid, o);
      }
    }
  }
  /* Payloads only, one a line. */
  ws_frame f;
  for (size_t off = 0; ws_frame_parse(c->out.p + off, c->out.len - off, &f); off += f.head + f.len) {
    fwrite(c->out.p + off + f.head, 1, f.len, stdout);
    fputc('\n', stdout);
  }
  return 0;
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
  if (O.print_hashes > 0 || O.print_peer_ids > 0 || O.print_sources > 0) {
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
    for (int i = 0; i < O.print_sources && i < O.sources; i++) {
      uint32_t a = source_addr((uint32_t)i);
      printf("%u.%u.%u.%u\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
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
  if (O.ws && O.print_ws_frames > 0) return ws_print_frames();
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)O.port);
  if (inet_pton(AF_INET, O.host, &target.sin_addr) != 1) { fprintf(stderr, "udpgen: bad target address\n"); return 2; }
  if ((ntohl(target.sin_addr.s_addr) >> 24) != 127) { fprintf(stderr, "udpgen: refusing a non-loopback target\n"); return 2; }

  thread_state *threads = calloc((size_t)O.threads, sizeof(thread_state));
  pthread_t *tids = calloc((size_t)O.threads, sizeof(pthread_t));
  flow *flows = NULL;
  hconn *hconns = NULL;
  wconn *wconns = NULL;
  if (O.ws) {
    wconns = calloc((size_t)O.sockets, sizeof(wconn)); /* filled in by their threads (w_thread_setup) */
  } else if (O.http) {
    hconns = calloc((size_t)O.sockets, sizeof(hconn));
    for (int k = 0; k < O.sockets; k++) {
      hconn *c = &hconns[k];
      c->fd = -1;
      c->index = (uint32_t)k;
      flow_sources((uint32_t)k, (uint32_t)O.sockets, &c->src_first, &c->src_step, &c->src_count);
      c->source = c->src_first;
      sfc_seed(&c->rng, O.seed, 0x2000u + (uint32_t)k);
    }
  } else {
    flows = calloc((size_t)O.sockets, sizeof(flow));
    for (int k = 0; k < O.sockets; k++) {
      flow *f = &flows[k];
      f->index = (uint32_t)k;
      flow_sources((uint32_t)k, (uint32_t)O.sockets, &f->src_first, &f->src_step, &f->src_count);
      f->src = calloc(f->src_count, sizeof(source_state));
      sfc_seed(&f->rng, O.seed, 0x1000u + (uint32_t)k);
      f->gen = 1;
      f->txids = calloc((size_t)O.window, sizeof(uint32_t));
      f->slot_src = calloc((size_t)O.window, sizeof(uint32_t));
      f->sent_at = calloc((size_t)O.window, sizeof(double));
      f->kinds = calloc((size_t)O.window, 1);
      f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      if (f->fd < 0) { perror("udpgen: socket"); return 1; }
      int sz = 1 << 21;
      setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
      setsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
      /*
       * Bound to the wildcard address and not connected (a connected socket
       * takes one local address): each datagram names its source in
       * IP_PKTINFO and its destination in msg_name, and the replies to any
       * 127.x.y.z at this port arrive here.
       */
      struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_ANY)};
      /*
       * Don't fragment, ever (every datagram fits the loopback MTU): an
       * unconnected socket that allows fragments draws each datagram's IP id
       * from the kernel's shared, hashed generator (__ip_select_ident), which
       * cost the generator ~5% of its CPU; with DF set the id is simply 0.
       */
      int pmtu = IP_PMTUDISC_DO;
      setsockopt(f->fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
      if (bind(f->fd, (struct sockaddr *)&src, sizeof src) < 0) { perror("udpgen: bind"); return 1; }
    }
  }
  int per = O.sockets / O.threads, extra = O.sockets % O.threads, first = 0;
  for (int i = 0; i < O.threads; i++) {
    thread_state *ts = &threads[i];
    ts->id = i;
    ts->nflows = per + (i < extra ? 1 : 0);
    ts->flows = flows ? &flows[first] : NULL;
    ts->hconns = hconns ? &hconns[first] : NULL;
    ts->wconns = wconns ? &wconns[first] : NULL;
    ts->first = first;
    first += ts->nflows;
    ts->ep = epoll_create1(0);
    for (int b = 0; b < BATCH; b++) {
      ts->siov[b].iov_base = ts->sbuf[b];
      ts->smsg[b].msg_hdr.msg_iov = &ts->siov[b];
      ts->smsg[b].msg_hdr.msg_iovlen = 1;
      ts->smsg[b].msg_hdr.msg_name = &target;
      ts->smsg[b].msg_hdr.msg_namelen = sizeof target;
      ts->smsg[b].msg_hdr.msg_control = ts->sctl[b].buf;
      ts->smsg[b].msg_hdr.msg_controllen = sizeof ts->sctl[b].buf;
      struct cmsghdr *cm = CMSG_FIRSTHDR(&ts->smsg[b].msg_hdr);
      cm->cmsg_level = IPPROTO_IP;
      cm->cmsg_type = IP_PKTINFO;
      cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
      ts->spkt[b] = (struct in_pktinfo *)CMSG_DATA(cm);
      memset(ts->spkt[b], 0, sizeof(struct in_pktinfo)); /* ifindex 0: routed as usual; ipi_spec_dst set per datagram */
      ts->riov[b].iov_base = ts->rbuf[b];
      ts->riov[b].iov_len = MAXPKT;
      ts->rmsg[b].msg_hdr.msg_iov = &ts->riov[b];
      ts->rmsg[b].msg_hdr.msg_iovlen = 1;
    }
    for (int k = 0; k < ts->nflows && !O.http && !O.ws; k++) {
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ts->flows[k]};
      epoll_ctl(ts->ep, EPOLL_CTL_ADD, ts->flows[k].fd, &ev);
    }
  }

  if (O.ws) {
    /* WebSockets are opened before the clock starts (as the Node engine's workers do before 'ready'). */
    for (int i = 0; i < O.threads; i++) pthread_create(&tids[i], NULL, ws_thread_main, &threads[i]);
    while (atomic_load(&ws_ready) < O.threads) {
      struct timespec ws = {.tv_sec = 0, .tv_nsec = 1000000};
      nanosleep(&ws, NULL);
    }
  }
  double t0 = now_ms();
  t_measure_start = t0 + O.warmup * 1000;
  t_measure_end = t_measure_start + O.duration * 1000;
  t_stop = t_measure_end + 1; /* threads stop at the window's end */
  if (O.ws) atomic_store(&ws_go, 1);
  else
    for (int i = 0; i < O.threads; i++) pthread_create(&tids[i], NULL, O.http ? http_thread_main : thread_main, &threads[i]);

  /* Progress and markers; the main thread only sleeps and reads counters. */
  uint64_t prev[7] = {0};
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
      uint64_t cur[7] = {0};
      for (int i = 0; i < O.threads; i++) {
        cur[5] += atomic_load_explicit(&threads[i].live.offers_in, memory_order_relaxed);
        cur[6] += atomic_load_explicit(&threads[i].live.answers_in, memory_order_relaxed);
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
      char ws_part[96] = "";
      if (O.ws) {
        char oi[32], ai[32];
        fmt_int(oi, sizeof oi, (double)(cur[5] - prev[5]) / dt);
        fmt_int(ai, sizeof ai, (double)(cur[6] - prev[6]) / dt);
        snprintf(ws_part, sizeof ws_part, "  offers in %s/s  answers in %s/s", oi, ai);
      }
      fprintf(stderr, "[%3.0fs %-9s] %9s replies/s  sent %s/s  errors %s  lost %s  invalid %s%s\n", (t - t0) / 1000, phase, r,
              s, e, l, inv, ws_part);
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
  printf("]},");
  if (O.ws) {
    ws_counters w = {0};
    double sig[BUCKETS] = {0}, ssum = 0, smax = 0;
    uint64_t scount = 0;
    for (int i = 0; i < O.threads; i++) {
      thread_state *ts = &threads[i];
      w.offers_sent += ts->wc.offers_sent; w.offers_received += ts->wc.offers_received;
      w.answers_sent += ts->wc.answers_sent; w.answers_received += ts->wc.answers_received;
      w.answers_matched += ts->wc.answers_matched; w.answer_errors += ts->wc.answer_errors; w.reopened += ts->wc.reopened;
      for (int b = 0; b < BUCKETS; b++) sig[b] += ts->sig[b];
      scount += ts->sig_count;
      ssum += ts->sig_sum;
      if (ts->sig_max > smax) smax = ts->sig_max;
    }
    printf("\"ws\":{\"counters\":{\"offersSent\":%lu,\"offersReceived\":%lu,\"answersSent\":%lu,\"answersReceived\":%lu,"
           "\"answersMatched\":%lu,\"answerErrors\":%lu,\"reopened\":%lu},",
           (unsigned long)w.offers_sent, (unsigned long)w.offers_received, (unsigned long)w.answers_sent,
           (unsigned long)w.answers_received, (unsigned long)w.answers_matched, (unsigned long)w.answer_errors,
           (unsigned long)w.reopened);
    printf("\"signalling\":{\"count\":%lu,\"sum\":%.1f,\"max\":%.1f,\"counts\":[", (unsigned long)scount, ssum, smax);
    for (int b = 0; b < BUCKETS; b++) printf(b ? ",%.0f" : "%.0f", sig[b]);
    printf("]}},");
  }
  printf("\"errorMessages\":{");
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
