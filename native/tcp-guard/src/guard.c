#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "plt_hook.h"

#define REFUSE_BURST 256 /* refusals in one accept call before the loop gets a turn */
#define SHED_BURST 1024  /* pending connections reset in one EMFILE episode, at most */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static conn_table g_table;
static int g_hooked;
static pthread_t g_loop_thread;
static int g_spare_fd = -1;
static guard_counters g_counts;

static void init_once(void) {
  uint64_t seed[2];
  if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
    seed[0] = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    seed[1] = (uint64_t)(uintptr_t)&seed;
  }
  ct_init(&g_table, seed[0], seed[1]);
  /* No cap until configured: a hook installed first must not refuse everything. */
  ct_configure(&g_table, UINT32_MAX, UINT32_MAX, NULL, 0);
}

void guard_init(void) {
  pthread_once(&g_once, init_once);
}

int guard_hooked(void) {
  return g_hooked;
}

conn_table *guard_table(void) {
  return &g_table;
}

const guard_counters *guard_counts(void) {
  return &g_counts;
}

static int on_loop_thread(void) {
  return g_hooked && pthread_equal(pthread_self(), g_loop_thread);
}

static int open_spare(void) {
  return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void reset_close(int fd) {
  struct linger linger = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
  close(fd);
}

/* The peer in the IPv6 space (IPv4 as ::ffff:a.b.c.d); 0 when it has no IP address. */
static int peer_address(const struct sockaddr_storage *peer, socklen_t len, uint8_t *out) {
  if (peer->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    return 1;
  }
  if (peer->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    memcpy(out, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    return 1;
  }
  return 0;
}

/* Out of descriptors: reset what is pending with the spare's slot, so the
 * listen socket stops being readable. Without a spare (another thread took
 * the slot) there is nothing to accept with; the spare is reopened as soon
 * as a connection closes. */
static void make_room(int listen_fd, int error) {
  if (error == EMFILE) g_counts.emfile++;
  else g_counts.enfile++;
  if (g_spare_fd < 0) g_spare_fd = open_spare();
  if (g_spare_fd < 0) return;
  close(g_spare_fd);
  g_spare_fd = -1;
  for (int i = 0; i < SHED_BURST; i++) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR) continue;
      break;
    }
    reset_close(fd);
  }
  g_spare_fd = open_spare();
}

static int guarded_accept4(int listen_fd, struct sockaddr *addr, socklen_t *addrlen, int flags) {
  if (!on_loop_thread()) return accept4(listen_fd, addr, addrlen, flags);
  for (int refused = 0; refused < REFUSE_BURST;) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept4(listen_fd, (struct sockaddr *)&peer, &len, flags);
    if (fd < 0) {
      int error = errno;
      if (error == EMFILE || error == ENFILE) {
        make_room(listen_fd, error);
        error = EAGAIN;
      }
      errno = error;
      return -1;
    }
    uint8_t address[16];
    int verdict = ct_admit(&g_table, fd, peer_address(&peer, len, address) ? address : NULL);
    if (verdict == CT_ADMITTED) {
      if (addr && addrlen) {
        memcpy(addr, &peer, len < *addrlen ? len : *addrlen);
        *addrlen = len;
      }
      return fd;
    }
    reset_close(fd);
    /* CT_NO_MEMORY counts as over the total: to the client it is the same refusal. */
    if (verdict == CT_OVER_PER_ADDRESS) g_counts.refused_per_address++;
    else g_counts.refused_total++;
    refused++;
  }
  errno = EAGAIN;
  return -1;
}

static int guarded_close(int fd) {
  if (!on_loop_thread()) return close(fd);
  ct_release(&g_table, fd);
  int result = close(fd);
  if (g_spare_fd < 0) {
    int error = errno;
    g_spare_fd = open_spare();
    errno = error;
  }
  return result;
}

const char *guard_hook(const char *path) {
  if (g_hooked) return NULL;
  plt_object object;
  plt_entry entries[] = {
      {"accept4", (void *)guarded_accept4, NULL},
      {"close", (void *)guarded_close, NULL},
  };
  const char *why = plt_find(path, &object, entries, 2);
  if (why) return why;
  g_loop_thread = pthread_self();
  if (g_spare_fd < 0) g_spare_fd = open_spare();
  g_hooked = 1; /* before the patch: a wrapper must never see itself unhooked on this thread */
  why = plt_patch(&object, entries, 2);
  if (why) g_hooked = 0; /* slots written so far pass straight through: the wrappers check g_hooked */
  return why;
}
