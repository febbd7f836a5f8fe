/*
 * tcp_guard: a cap on the TCP connections uWebSockets.js holds, and no busy
 * loop when the process runs out of file descriptors (Linux, plain C N-API).
 *
 * uWebSockets.js 20.30 gives JavaScript no hook at connection level: a
 * connection is invisible until it sends a request, and its accept loop
 * (uSockets) retries forever when accept4 fails with EMFILE, because the
 * listen socket stays readable. So this addon rewrites the uws module's GOT
 * slots for accept4 and close (plt_hook.c) to point at the two wrappers
 * below. Nothing else in the process is affected.
 *
 * guarded_accept4 accepts the next pending connection and asks conn_table
 * whether it may stay. Over http.maxConnections or
 * http.maxConnectionsPerAddress it is reset (SO_LINGER 0: the client gets
 * an RST at once and we keep no TIME_WAIT state), counted, and the next
 * pending one is tried, so the backlog drains; after REFUSE_BURST refusals
 * it returns EAGAIN to let the event loop run other work (the listen socket
 * is level-triggered and comes back). At EMFILE/ENFILE it does what libuv
 * does for Node's own servers: close a spare descriptor, accept and reset
 * what is pending, reopen the spare, and report EAGAIN, so the listen socket
 * is no longer readable and nothing spins.
 *
 * guarded_close forgets the descriptor if it was admitted.
 *
 * Threads: uWebSockets.js runs on the thread of Node's main event loop, the
 * thread that installs the hook. Calls from any other thread (a worker that
 * loaded uws itself) pass straight through, so the table and counters are
 * only ever touched by one thread and need no locks; JS reads the counters
 * on that same thread.
 *
 * Exports:
 *   abiVersion
 *   raiseFdLimit() -> { soft, hard, before }  soft RLIMIT_NOFILE raised to hard
 *   hook(path)           patch the loaded object at `path`; throws why not
 *   configure(maxTotal, maxPerAddress, rules)  rules: 17 bytes each (16-byte
 *                        network in the IPv6 space, prefix 0..128)
 *   stats() -> { hooked, open, addresses, refusedTotal, refusedPerAddress, emfile, enfile }
 *   ConnTable            the bookkeeping alone, for tests:
 *                        new ConnTable(maxTotal, maxPerAddress, rules),
 *                        admit(fd, address16 | null) -> 0 admitted, 1 over total,
 *                        2 over per-address, 3 no memory; release(fd);
 *                        count(address16); stats() -> { open, addresses }
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>

#include "conn_table.h"
#include "plt_hook.h"

#define ABI_VERSION 1
#define REFUSE_BURST 256 /* refusals in one accept call before the loop gets a turn */
#define SHED_BURST 1024  /* pending connections reset in one EMFILE episode, at most */
#define RULE_BYTES 17

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static conn_table g_table;
static int g_hooked;
static pthread_t g_loop_thread;
static int g_spare_fd = -1;
static struct {
  uint64_t refused_total, refused_per_address, emfile, enfile;
} g_stats;

static void init_once(void) {
  uint64_t seed[2];
  if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
    seed[0] = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    seed[1] = (uint64_t)(uintptr_t)&seed;
  }
  ct_init(&g_table, seed[0], seed[1]);
  /* No cap until configure(): a hook installed first must not refuse everything. */
  ct_configure(&g_table, UINT32_MAX, UINT32_MAX, NULL, 0);
}

// ---------------------------------------------------------------- the wrappers

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
  if (error == EMFILE) g_stats.emfile++;
  else g_stats.enfile++;
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
    if (verdict == CT_OVER_PER_ADDRESS) g_stats.refused_per_address++;
    else g_stats.refused_total++;
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

// ---------------------------------------------------------------- N-API helpers

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int get_u32(napi_env env, napi_value value, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0)) return -1; /* NaN too */
  *out = d >= 4294967295.0 ? UINT32_MAX : (uint32_t)d;
  return 0;
}

static void set_number(napi_env env, napi_value obj, const char *name, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, obj, name, v);
}

/* A Uint8Array argument: its bytes and length; -1 if it is not one. */
static int get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is) return -1;
  napi_typedarray_type type;
  void *raw;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok || type != napi_uint8_array) return -1;
  *data = raw;
  return 0;
}

/* (maxTotal, maxPerAddress, rules) -> ct_configure on `table`. */
static napi_value configure_table(napi_env env, conn_table *table, napi_value *argv) {
  uint32_t max_total, max_per_address;
  uint8_t *bytes;
  size_t length;
  if (get_u32(env, argv[0], &max_total) != 0 || get_u32(env, argv[1], &max_per_address) != 0) {
    return throw_error(env, "maxTotal and maxPerAddress must be non-negative numbers");
  }
  if (get_bytes(env, argv[2], &bytes, &length) != 0 || length % RULE_BYTES != 0) {
    return throw_error(env, "rules must be a Uint8Array of 17-byte rules");
  }
  uint32_t count = (uint32_t)(length / RULE_BYTES);
  ct_rule *rules = count ? malloc(sizeof *rules * count) : NULL;
  if (count && !rules) return throw_error(env, "out of memory");
  for (uint32_t i = 0; i < count; i++) {
    memcpy(rules[i].network, bytes + i * RULE_BYTES, 16);
    uint8_t prefix = bytes[i * RULE_BYTES + 16];
    rules[i].prefix = prefix > 128 ? 128 : prefix;
  }
  int failed = ct_configure(table, max_total, max_per_address, rules, count);
  free(rules);
  if (failed) return throw_error(env, "out of memory");
  return NULL;
}

// ---------------------------------------------------------------- process-wide exports

static napi_value raise_fd_limit(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return throw_error(env, "getrlimit(RLIMIT_NOFILE) failed");
  double before = limit.rlim_cur == RLIM_INFINITY ? INFINITY : (double)limit.rlim_cur;
  if (limit.rlim_cur != limit.rlim_max) {
    /* Node does this at start-up already; done again in case it could not. */
    struct rlimit raised = {limit.rlim_max, limit.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  napi_value out;
  napi_create_object(env, &out);
  set_number(env, out, "soft", limit.rlim_cur == RLIM_INFINITY ? INFINITY : (double)limit.rlim_cur);
  set_number(env, out, "hard", limit.rlim_max == RLIM_INFINITY ? INFINITY : (double)limit.rlim_max);
  set_number(env, out, "before", before);
  return out;
}

static napi_value hook(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (g_hooked) return NULL;
  char path[4096];
  size_t length;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length) != napi_ok || length == 0 ||
      length >= sizeof path - 1) {
    return throw_error(env, "hook(path): path must be a file path");
  }
  plt_object object;
  plt_entry entries[] = {
      {"accept4", (void *)guarded_accept4, NULL},
      {"close", (void *)guarded_close, NULL},
  };
  const char *why = plt_find(path, &object, entries, 2);
  if (!why) {
    g_loop_thread = pthread_self();
    if (g_spare_fd < 0) g_spare_fd = open_spare();
    g_hooked = 1; /* before the patch: a wrapper must never see itself unhooked on this thread */
    why = plt_patch(&object, entries, 2);
    if (why) g_hooked = 0; /* the slots written so far pass through: they check g_hooked */
  }
  if (why) {
    char message[4400];
    snprintf(message, sizeof message, "%s: %s", path, why);
    return throw_error(env, message);
  }
  return NULL;
}

static napi_value configure(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_error(env, "configure(maxTotal, maxPerAddress, rules)");
  return configure_table(env, &g_table, argv);
}

static napi_value stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_object(env, &out);
  set_number(env, out, "hooked", g_hooked);
  set_number(env, out, "open", g_table.open);
  set_number(env, out, "addresses", g_table.addresses);
  set_number(env, out, "refusedTotal", (double)g_stats.refused_total);
  set_number(env, out, "refusedPerAddress", (double)g_stats.refused_per_address);
  set_number(env, out, "emfile", (double)g_stats.emfile);
  set_number(env, out, "enfile", (double)g_stats.enfile);
  return out;
}

// ---------------------------------------------------------------- ConnTable (tests)

static void table_finalize(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  ct_free(data);
  free(data);
}

static conn_table *this_table(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *table = NULL;
  napi_get_cb_info(env, info, argc, argv, &self, NULL);
  if (napi_unwrap(env, self, &table) != napi_ok) {
    throw_error(env, "not a ConnTable");
    return NULL;
  }
  return table;
}

static napi_value table_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self;
  napi_get_cb_info(env, info, &argc, argv, &self, NULL);
  if (argc < 3) return throw_error(env, "new ConnTable(maxTotal, maxPerAddress, rules)");
  conn_table *table = malloc(sizeof *table);
  if (!table) return throw_error(env, "out of memory");
  ct_init(table, 0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL);
  configure_table(env, table, argv);
  bool pending;
  napi_is_exception_pending(env, &pending);
  if (pending || napi_wrap(env, self, table, table_finalize, NULL, NULL) != napi_ok) {
    ct_free(table);
    free(table);
    return NULL;
  }
  return self;
}

/* argv[i] as a 16-byte address, or NULL for null/undefined; -1 on anything else. */
static int address_arg(napi_env env, napi_value value, uint8_t **address) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_null || type == napi_undefined) {
    *address = NULL;
    return 0;
  }
  size_t length;
  if (get_bytes(env, value, address, &length) != 0 || length != 16) return -1;
  return 0;
}

static napi_value table_admit(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  conn_table *table = this_table(env, info, &argc, argv);
  if (!table) return NULL;
  int32_t fd;
  uint8_t *address;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || address_arg(env, argv[1], &address) != 0) {
    return throw_error(env, "admit(fd, address16 | null)");
  }
  napi_value out;
  napi_create_int32(env, ct_admit(table, fd, address), &out);
  return out;
}

static napi_value table_release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  conn_table *table = this_table(env, info, &argc, argv);
  if (!table) return NULL;
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_error(env, "release(fd)");
  ct_release(table, fd);
  return NULL;
}

static napi_value table_count(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  conn_table *table = this_table(env, info, &argc, argv);
  if (!table) return NULL;
  uint8_t *address;
  if (argc < 1 || address_arg(env, argv[0], &address) != 0 || !address) return throw_error(env, "count(address16)");
  napi_value out;
  napi_create_uint32(env, ct_count(table, address), &out);
  return out;
}

static napi_value table_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  conn_table *table = this_table(env, info, &argc, NULL);
  if (!table) return NULL;
  napi_value out;
  napi_create_object(env, &out);
  set_number(env, out, "open", table->open);
  set_number(env, out, "addresses", table->addresses);
  return out;
}

// ---------------------------------------------------------------- module

static napi_value init(napi_env env, napi_value exports) {
  pthread_once(&g_once, init_once);
  napi_property_descriptor props[] = {
      {"raiseFdLimit", NULL, raise_fd_limit, NULL, NULL, NULL, napi_default, NULL},
      {"hook", NULL, hook, NULL, NULL, NULL, napi_default, NULL},
      {"configure", NULL, configure, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);

  napi_property_descriptor methods[] = {
      {"admit", NULL, table_admit, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, table_release, NULL, NULL, NULL, napi_default, NULL},
      {"count", NULL, table_count, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, table_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value table_class;
  napi_define_class(env, "ConnTable", NAPI_AUTO_LENGTH, table_new, NULL, sizeof methods / sizeof methods[0], methods, &table_class);
  napi_set_named_property(env, exports, "ConnTable", table_class);

  napi_value version;
  napi_create_int32(env, ABI_VERSION, &version);
  napi_set_named_property(env, exports, "abiVersion", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
