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
 * Build: gcc -O2 -pthread -o .bench/echo-server bench/loadtest/echo-server.c
 * Run:   .bench/echo-server --port 7000 [--host 127.0.0.1] [--threads 1] [--peers 0] [--http 0|1] [--max-seconds 600]
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

#define BATCH 64
#define MAXPKT 2048

static char host[64] = "127.0.0.1";
static int port = 0, threads = 1, peers = 0, http = 0;
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
  int fd, len;
  char buf[8192];
} hconn;

static void *serve_http(void *arg) {
  int lfd = (int)(intptr_t)arg;
  int ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event evs[256];
  while (!stop_flag && now_s() < deadline) {
    int n = epoll_wait(ep, evs, 256, 200);
    for (int e = 0; e < n; e++) {
      hconn *c = evs[e].data.ptr;
      if (!c) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          hconn *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      int closing = 0;
      for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - (size_t)c->len);
        if (r > 0) {
          c->len += (int)r;
          char *end;
          while (!closing && (end = memmem(c->buf, (size_t)c->len, "\r\n\r\n", 4)) != NULL) {
            size_t head = (size_t)(end - c->buf) + 4;
            int scrape = head > 11 && !memcmp(c->buf, "GET /scrape", 11);
            int close_req = 0;
            for (char *p = c->buf; p + 17 <= end; p++)
              if (p[0] == '\n' && !strncasecmp(p + 1, "connection: close", 17)) close_req = 1;
            const char *out = scrape ? (close_req ? scrape_close : scrape_reply) : (close_req ? announce_close : announce_reply);
            int olen = scrape ? (close_req ? scrape_close_len : scrape_len) : (close_req ? announce_close_len : announce_len);
            if (send(c->fd, out, (size_t)olen, MSG_NOSIGNAL) < 0) closing = 1;
            memmove(c->buf, c->buf + head, (size_t)c->len - head);
            c->len -= (int)head;
            if (close_req) closing = 1;
          }
          if (c->len >= (int)sizeof c->buf) closing = 1;
          if (closing) break;
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r < 0 && errno == EINTR) continue;
        closing = 1; /* EOF or error */
        break;
      }
      if (closing) {
        close(c->fd); /* the server closes first: TIME_WAIT stays here, as with a real tracker */
        free(c);
      }
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--host")) snprintf(host, sizeof host, "%s", argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--peers")) peers = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-seconds")) max_seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--http")) http = atoi(argv[i + 1]);
    else { fprintf(stderr, "echo-server: unknown option %s\n", argv[i]); return 2; }
  }
  if (port <= 0 || port > 65535 || threads < 1 || threads > 64 || peers < 0 || peers > 200 || max_seconds <= 0) {
    fprintf(stderr, "usage: echo-server --port P [--host 127.0.0.1] [--threads N] [--peers N] [--max-seconds S]\n");
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
  if (http) {
    signal(SIGPIPE, SIG_IGN);
    http_init();
    for (int t = 0; t < threads; t++) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("echo-server: bind/listen");
        return 1;
      }
      fds[t] = fd;
    }
    printf("listening %s:%d\n", host, port);
    fflush(stdout);
    for (int t = 0; t < threads; t++) pthread_create(&tids[t], NULL, serve_http, (void *)(intptr_t)fds[t]);
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
  }
  printf("listening %s:%d\n", host, port);
  fflush(stdout);
  for (int t = 0; t < threads; t++) pthread_create(&tids[t], NULL, serve, (void *)(intptr_t)fds[t]);
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  return 0;
}
