/*
 * udp_batch: batched UDP socket I/O for Node (Linux), plain C N-API.
 *
 * One non-blocking UDP socket owned by the addon, watched with uv_poll on
 * Node's own event loop. On readable it drains the socket with recvmmsg into
 * a receive area shared with JS (an ArrayBuffer created once) and calls ONE
 * JS function per recvmmsg batch with the datagram count; per-datagram
 * metadata sits in a shared Int32Array, so no per-packet JS object is made
 * here. Replies are written by JS into a shared send area with a descriptor
 * table and sent with sendmmsg by flush(start, end).
 *
 * Shared layout (all little-endian host order, 32 bytes per record):
 *   recvMeta[i]: int32 length, int32 flags (bit 0: truncated), int32 family
 *                (low byte 4 | 6; bits 8..30: IPv6 scope id), int32 port,
 *                16 bytes address (IPv4 in the first 4; an IPv4-mapped IPv6
 *                source is reported as family 4).
 *   recvData:    datagram i at byte i * recvStride, `length` bytes.
 *   sendMeta[j]: int32 offset into sendData, int32 length, int32 family
 *                (as in recvMeta, scope id included), int32 port, 16 bytes
 *                address (IPv4: first 4).
 *   control:     int32[8]: [0] send errors (cumulative), [1] last send errno,
 *                [2] 1 while waiting for writable, [3] receive errors
 *                (cumulative), [4] last receive errno, [5] datagrams
 *                received with MSG_TRUNC (cumulative).
 *
 * JS-visible object (class UdpBatchSocket):
 *   new UdpBatchSocket(onEvent, batch, slotSize, sendBytes, sendSlots)
 *     onEvent(kind, n): kind 0 = batch of n datagrams, 1 = writable again,
 *                       2 = poll error (n = negative uv errno), 3 = closed.
 *   bind(family, addressBytes, port, ipv6Only, reusePort, rcvbuf, sndbuf) -> port
 *   flush(start, end) -> descriptors consumed (sent or dropped on a hard
 *                        error); fewer than end - start means the kernel
 *                        buffer is full: the addon polls for writable and
 *                        calls onEvent(1) when the rest can go.
 *   setReceiving(bool), setRef(bool), close(), bufferSizes() -> [rcv, snd]
 *   properties: recvData, recvMeta, sendData, sendMeta, control (ArrayBuffers),
 *               recvStride, batch, slotSize, sendSlots (numbers).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define META_INTS 8
#define SEND_CHUNK 1024 /* UIO_MAXIOV: the most sendmmsg takes at once */
#define MAX_BATCH 1024
#define WAKEUP_BUDGET_BATCHES 16 /* then back to the loop so timers and other I/O run */

enum { EV_BATCH = 0, EV_WRITABLE = 1, EV_ERROR = 2, EV_CLOSED = 3 };
enum { C_SEND_ERRORS = 0, C_SEND_ERRNO, C_BLOCKED, C_RECV_ERRORS, C_RECV_ERRNO, C_TRUNCATED, C_COUNT = 8 };

typedef struct {
  napi_env env;
  /* Lifetime: the JS object is held strongly only while a socket is open
   * (bind .. close callback); otherwise the addon holds nothing strongly, so
   * an unbound or closed socket is collected like any object and its
   * finalizer frees this struct. */
  napi_ref self;                          /* from napi_wrap: weak, strong while open */
  napi_ref callback;                      /* onEvent: strong while open only */
  napi_async_context async_ctx;           /* while open */
  napi_async_cleanup_hook_handle cleanup; /* while open: env teardown closes the handle */
  uv_poll_t poll;
  int fd;
  int family; /* AF_INET / AF_INET6 once bound */
  int poll_inited;
  int events; /* UV_READABLE | UV_WRITABLE currently requested */
  int receiving;
  int closing;
  int closed;
  int finalized;
  int teardown; /* env is going away: no more JS */
  unsigned batch, slot, stride, send_slots;
  size_t send_bytes;
  uint8_t *rdata;
  int32_t *rmeta;
  uint8_t *sdata;
  int32_t *smeta;
  int32_t *control;
  struct mmsghdr *rmsgs;
  struct iovec *riov;
  struct sockaddr_in6 *raddr; /* sockaddr_in6 is large enough for both families */
  struct mmsghdr smsgs[SEND_CHUNK];
  struct iovec siov[SEND_CHUNK];
  struct sockaddr_in6 saddr[SEND_CHUNK];
} sock_t;

/* ------------------------------------------------------------ helpers */

#define CHECK(call)                                   \
  do {                                                \
    if ((call) != napi_ok) return throw_last(env);    \
  } while (0)

static napi_value throw_last(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "napi call failed");
  }
  return NULL;
}

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[256];
  const char *code = uv_err_name(-err);
  snprintf(msg, sizeof msg, "%s %s (%s)", syscall, code, uv_strerror(-err));
  napi_value code_v, msg_v, error, errno_v, syscall_v;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_error(env, code_v, msg_v, &error);
  napi_create_int32(env, -err, &errno_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  napi_throw(env, error);
  return NULL;
}

static sock_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_error(env, NULL, "not a UdpBatchSocket");
    return NULL;
  }
  return (sock_t *)data;
}

static void free_sock(sock_t *s) {
  free(s->rmsgs);
  free(s->riov);
  free(s->raddr);
  free(s);
}

/* Calls onEvent(kind, n) as a top-level callback (microtasks and nextTicks run after it). */
static bool emit(sock_t *s, int kind, int n) {
  if (s->teardown || !s->callback) return false;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  bool ok = true;
  napi_value fn, self, argv[2], result;
  if (napi_get_reference_value(env, s->callback, &fn) != napi_ok || !fn ||
      napi_get_reference_value(env, s->self, &self) != napi_ok || !self) {
    napi_close_handle_scope(env, scope);
    return false;
  }
  napi_create_int32(env, kind, &argv[0]);
  napi_create_int32(env, n, &argv[1]);
  napi_status st = napi_make_callback(env, s->async_ctx, self, fn, 2, argv, &result);
  if (st != napi_ok) {
    ok = false;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc); /* like a throwing 'message' listener: uncaughtException */
    }
  }
  napi_close_handle_scope(env, scope);
  return ok;
}

static void on_poll(uv_poll_t *handle, int status, int events);

static void update_poll(sock_t *s) {
  if (!s->poll_inited || s->closing) return;
  int want = (s->receiving ? UV_READABLE : 0) | (s->control[C_BLOCKED] ? UV_WRITABLE : 0);
  if (want == s->events) return;
  s->events = want;
  if (want) uv_poll_start(&s->poll, want, on_poll);
  else uv_poll_stop(&s->poll);
}

/* ------------------------------------------------------------ receive */

static void do_recv(sock_t *s) {
  for (int round = 0; round < WAKEUP_BUDGET_BATCHES && s->receiving && !s->closing; round++) {
    for (unsigned i = 0; i < s->batch; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
      s->rmsgs[i].msg_hdr.msg_flags = 0;
    }
    int n = recvmmsg(s->fd, s->rmsgs, s->batch, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        s->control[C_RECV_ERRORS]++;
        s->control[C_RECV_ERRNO] = errno;
      }
      return;
    }
    if (n == 0) return;
    for (int i = 0; i < n; i++) {
      int32_t *m = s->rmeta + (size_t)i * META_INTS;
      struct msghdr *h = &s->rmsgs[i].msg_hdr;
      unsigned len = s->rmsgs[i].msg_len;
      m[0] = (int32_t)(len > s->slot ? s->slot : len);
      m[1] = (h->msg_flags & MSG_TRUNC) ? 1 : 0;
      if (m[1]) s->control[C_TRUNCATED]++;
      const struct sockaddr_in6 *a6 = &s->raddr[i];
      if (a6->sin6_family == AF_INET6) {
        const uint8_t *b = a6->sin6_addr.s6_addr;
        m[3] = ntohs(a6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
          m[2] = 4;
          memcpy(m + 4, b + 12, 4);
        } else {
          /* The scope id (link-local sources) rides in the family word, bits 8..30. */
          uint32_t scope = a6->sin6_scope_id < (1u << 23) ? a6->sin6_scope_id : 0;
          m[2] = (int32_t)(6u | (scope << 8));
          memcpy(m + 4, b, 16);
        }
      } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)a6;
        m[2] = 4;
        m[3] = ntohs(a4->sin_port);
        memcpy(m + 4, &a4->sin_addr, 4);
      }
    }
    if (!emit(s, EV_BATCH, n)) return;
    /* A short batch means the queue was (very nearly) empty: go back to the
     * loop instead of paying a syscall for EAGAIN (the poll is level-triggered). */
    if ((unsigned)n < s->batch) return;
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  sock_t *s = (sock_t *)handle->data;
  if (s->closing) return;
  if (status < 0) {
    /* The socket is unusable: stop polling (no error storm), tell JS. */
    s->receiving = 0;
    s->control[C_BLOCKED] = 0;
    update_poll(s);
    emit(s, EV_ERROR, status);
    return;
  }
  if ((events & UV_WRITABLE) && s->control[C_BLOCKED]) {
    s->control[C_BLOCKED] = 0;
    update_poll(s);
    emit(s, EV_WRITABLE, 0);
    if (s->closing) return;
  }
  if (events & UV_READABLE) do_recv(s);
}

/* ------------------------------------------------------------ close */

static void on_closed(uv_handle_t *handle) {
  sock_t *s = (sock_t *)handle->data;
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  s->closed = 1;
  if (s->cleanup) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  if (s->teardown) {
    /* No JS any more; the env frees its references itself. */
    if (s->finalized) free_sock(s);
    return;
  }
  napi_env env = s->env;
  emit(s, EV_CLOSED, 0);
  napi_async_destroy(env, s->async_ctx);
  s->async_ctx = NULL;
  napi_delete_reference(env, s->callback);
  s->callback = NULL;
  if (s->finalized) { /* cannot happen while self was strong; kept for safety */
    free_sock(s);
    return;
  }
  uint32_t count;
  napi_reference_unref(env, s->self, &count); /* weak again: collectable */
}

static void start_close(sock_t *s) {
  if (s->closing) return;
  s->closing = 1;
  s->receiving = 0;
  if (s->poll_inited) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_closed);
  } else {
    /* never bound: nothing in the loop, finish now */
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    s->closed = 1;
  }
}

static void on_env_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  sock_t *s = (sock_t *)arg;
  (void)handle;
  s->teardown = 1;
  if (!s->closing) start_close(s);
  if (s->closed && s->cleanup) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  sock_t *s = (sock_t *)data;
  s->finalized = 1;
  if (s->self && !s->teardown) napi_delete_reference(env, s->self);
  s->self = NULL;
  /* The uv handle lives inside s: free only once libuv is done with it. */
  if (!s->poll_inited || s->closed) {
    if (s->cleanup) {
      napi_remove_async_cleanup_hook(s->cleanup);
      s->cleanup = NULL;
    }
    if (s->fd >= 0) close(s->fd);
    free_sock(s);
  }
}

/* ------------------------------------------------------------ methods */

static napi_value m_bind(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  sock_t *s = unwrap(env, info, &argc, argv);
  if (!s) return NULL;
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "bind(family, address, port, ipv6Only, reusePort, rcvbuf, sndbuf)");
    return NULL;
  }
  if (s->closing) return throw_errno(env, "bind", EBADF);
  if (s->fd >= 0) return throw_errno(env, "bind", EINVAL);
  int32_t family, port, rcvbuf, sndbuf;
  bool v6only, reuseport;
  void *abytes;
  size_t alen;
  napi_typedarray_type ttype;
  napi_value ab;
  size_t aoff;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  CHECK(napi_get_typedarray_info(env, argv[1], &ttype, &alen, &abytes, &ab, &aoff));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  CHECK(napi_get_value_bool(env, argv[3], &v6only));
  CHECK(napi_get_value_bool(env, argv[4], &reuseport));
  CHECK(napi_get_value_int32(env, argv[5], &rcvbuf));
  CHECK(napi_get_value_int32(env, argv[6], &sndbuf));
  if ((family != 4 && family != 6) || ttype != napi_uint8_array || alen != (family == 4 ? 4u : 16u) || port < 0 ||
      port > 65535) {
    napi_throw_range_error(env, NULL, "bad bind arguments");
    return NULL;
  }
  int af = family == 4 ? AF_INET : AF_INET6;
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1, err = 0;
  const char *what = NULL;
  if (af == AF_INET6) {
    int v = v6only ? 1 : 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v) < 0) what = "setsockopt(IPV6_V6ONLY)", err = errno;
  }
  if (!what && reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
    what = "setsockopt(SO_REUSEPORT)", err = errno;
  if (!what && rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
    what = "setsockopt(SO_RCVBUF)", err = errno;
  if (!what && sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0)
    what = "setsockopt(SO_SNDBUF)", err = errno;
  if (!what) {
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    socklen_t salen;
    if (af == AF_INET) {
      struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
      a4->sin_family = AF_INET;
      a4->sin_port = htons((uint16_t)port);
      memcpy(&a4->sin_addr, abytes, 4);
      salen = sizeof(struct sockaddr_in);
    } else {
      sa.sin6_family = AF_INET6;
      sa.sin6_port = htons((uint16_t)port);
      memcpy(&sa.sin6_addr, abytes, 16);
      salen = sizeof sa;
    }
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0) what = "bind", err = errno;
  }
  struct sockaddr_in6 bound;
  socklen_t blen = sizeof bound;
  if (!what && getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) what = "getsockname", err = errno;
  if (what) {
    close(fd);
    return throw_errno(env, what, err);
  }
  uv_loop_t *loop;
  napi_value self, fn, resource_name;
  size_t zero = 0;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_get_cb_info(env, info, &zero, NULL, &self, NULL) != napi_ok ||
      napi_get_named_property(env, self, "onEvent", &fn) != napi_ok ||
      napi_create_string_utf8(env, "UdpBatchSocket", NAPI_AUTO_LENGTH, &resource_name) != napi_ok) {
    close(fd);
    return throw_last(env);
  }
  int r = uv_poll_init(loop, &s->poll, fd);
  if (r < 0) {
    close(fd);
    return throw_errno(env, "uv_poll_init", -r);
  }
  /* From here on the socket is open: hold the object, its callback and an async context. */
  uint32_t count;
  napi_reference_ref(env, s->self, &count);
  napi_create_reference(env, fn, 1, &s->callback);
  napi_async_init(env, self, resource_name, &s->async_ctx);
  napi_add_async_cleanup_hook(env, on_env_teardown, s, &s->cleanup);
  s->poll.data = s;
  s->poll_inited = 1;
  s->fd = fd;
  s->family = af;
  s->receiving = 1;
  s->events = UV_READABLE;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  napi_value out;
  CHECK(napi_create_int32(env, ntohs(bound.sin6_port), &out)); /* same offset in sockaddr_in */
  return out;
}

/* Fills one mmsghdr from send descriptor j. Returns 0, or an errno for a descriptor that cannot be sent. */
static int build_send(sock_t *s, unsigned j, unsigned k) {
  const int32_t *m = s->smeta + (size_t)j * META_INTS;
  int32_t off = m[0], len = m[1], fam = m[2] & 0xff, port = m[3];
  uint32_t scope = (uint32_t)m[2] >> 8;
  if (off < 0 || len < 0 || (size_t)off + (size_t)len > s->send_bytes || port <= 0 || port > 65535) return EINVAL;
  struct sockaddr_in6 *sa = &s->saddr[k];
  socklen_t salen;
  const uint8_t *addr = (const uint8_t *)(m + 4);
  memset(sa, 0, sizeof *sa);
  if (fam == 4) {
    if (s->family == AF_INET) {
      struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
      a4->sin_family = AF_INET;
      a4->sin_port = htons((uint16_t)port);
      memcpy(&a4->sin_addr, addr, 4);
      salen = sizeof(struct sockaddr_in);
    } else {
      sa->sin6_family = AF_INET6;
      sa->sin6_port = htons((uint16_t)port);
      sa->sin6_addr.s6_addr[10] = 0xff;
      sa->sin6_addr.s6_addr[11] = 0xff;
      memcpy(sa->sin6_addr.s6_addr + 12, addr, 4);
      salen = sizeof *sa;
    }
  } else if (fam == 6) {
    if (s->family != AF_INET6) return EAFNOSUPPORT;
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons((uint16_t)port);
    sa->sin6_scope_id = scope;
    memcpy(sa->sin6_addr.s6_addr, addr, 16);
    salen = sizeof *sa;
  } else {
    return EINVAL;
  }
  s->siov[k].iov_base = s->sdata + off;
  s->siov[k].iov_len = (size_t)len;
  struct msghdr *h = &s->smsgs[k].msg_hdr;
  h->msg_name = sa;
  h->msg_namelen = salen;
  h->msg_iov = &s->siov[k];
  h->msg_iovlen = 1;
  h->msg_control = NULL;
  h->msg_controllen = 0;
  h->msg_flags = 0;
  return 0;
}

static void send_error(sock_t *s, int err) {
  s->control[C_SEND_ERRORS]++;
  s->control[C_SEND_ERRNO] = err;
}

static napi_value m_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  sock_t *s = unwrap(env, info, &argc, argv);
  if (!s) return NULL;
  int32_t start, end;
  CHECK(napi_get_value_int32(env, argv[0], &start));
  CHECK(napi_get_value_int32(env, argv[1], &end));
  if (start < 0 || end < start || (unsigned)end > s->send_slots) {
    napi_throw_range_error(env, NULL, "bad flush range");
    return NULL;
  }
  unsigned i = (unsigned)start;
  if (s->fd < 0 || s->closing) {
    i = (unsigned)end; /* nothing can be sent any more: drop */
  } else if (!s->control[C_BLOCKED]) {
    while (i < (unsigned)end) {
      unsigned want = (unsigned)end - i;
      if (want > SEND_CHUNK) want = SEND_CHUNK;
      unsigned k = 0;
      int bad = 0;
      for (; k < want; k++) {
        bad = build_send(s, i + k, k);
        if (bad) break;
      }
      if (k == 0) { /* descriptor i itself is unsendable */
        send_error(s, bad);
        i++;
        continue;
      }
      int r = sendmmsg(s->fd, s->smsgs, k, 0);
      if (r > 0) {
        i += (unsigned)r;
        continue; /* a short count: the next call reports the failing message */
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        s->control[C_BLOCKED] = 1;
        update_poll(s);
        break;
      }
      send_error(s, r < 0 ? errno : EIO); /* EMSGSIZE, ENETUNREACH, EPERM...: drop this one */
      i++;
    }
  }
  napi_value out;
  CHECK(napi_create_uint32(env, i - (unsigned)start, &out));
  return out;
}

static napi_value m_set_receiving(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  sock_t *s = unwrap(env, info, &argc, argv);
  if (!s) return NULL;
  bool on;
  CHECK(napi_get_value_bool(env, argv[0], &on));
  s->receiving = on && s->fd >= 0 && !s->closing;
  update_poll(s);
  return NULL;
}

static napi_value m_set_ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  sock_t *s = unwrap(env, info, &argc, argv);
  if (!s) return NULL;
  bool on;
  CHECK(napi_get_value_bool(env, argv[0], &on));
  if (s->poll_inited && !s->closing) {
    if (on) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

static napi_value m_buffer_sizes(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_t *s = unwrap(env, info, &argc, NULL);
  if (!s) return NULL;
  int rcv = 0, snd = 0;
  socklen_t l = sizeof rcv;
  if (s->fd >= 0) {
    getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, &l);
    l = sizeof snd;
    getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &snd, &l);
  }
  napi_value arr, a, b;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  napi_create_int32(env, rcv, &a);
  napi_create_int32(env, snd, &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

static napi_value m_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_t *s = unwrap(env, info, &argc, NULL);
  if (!s) return NULL;
  napi_value out;
  if (s->closing) {
    napi_get_boolean(env, false, &out);
    return out;
  }
  int had_poll = s->poll_inited;
  start_close(s);
  napi_get_boolean(env, had_poll ? true : false, &out); /* true: onEvent(3) will follow; false: nothing was open */
  return out;
}

/* ------------------------------------------------------------ constructor */

static napi_value make_buffer(napi_env env, size_t bytes, void **data) {
  napi_value ab;
  /* Zero-filled by V8 (calloc): no memset, so untouched pages are never committed. */
  if (napi_create_arraybuffer(env, bytes, data, &ab) != napi_ok) return NULL;
  return ab;
}

static napi_value m_new(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "new UdpBatchSocket(onEvent, batch, slotSize, sendBytes, sendSlots)");
    return NULL;
  }
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[0], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "onEvent must be a function");
    return NULL;
  }
  uint32_t batch, slot, send_bytes, send_slots;
  CHECK(napi_get_value_uint32(env, argv[1], &batch));
  CHECK(napi_get_value_uint32(env, argv[2], &slot));
  CHECK(napi_get_value_uint32(env, argv[3], &send_bytes));
  CHECK(napi_get_value_uint32(env, argv[4], &send_slots));
  if (batch < 1 || batch > MAX_BATCH || slot < 1 || slot > 65536 || send_bytes < 1 || send_bytes > (1u << 30) ||
      send_slots < 1 || send_slots > (1u << 20)) {
    napi_throw_range_error(env, NULL, "bad UdpBatchSocket sizes");
    return NULL;
  }
  sock_t *s = (sock_t *)calloc(1, sizeof *s);
  if (!s) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  s->env = env;
  s->fd = -1;
  s->batch = batch;
  s->slot = slot;
  /* Slots 64-byte aligned; a page-multiple stride gets one cache line more so
   * that slot heads do not all land in the same L1 set. */
  s->stride = (slot + 63u) & ~63u;
  if (s->stride % 4096u == 0) s->stride += 64u;
  s->send_bytes = send_bytes;
  s->send_slots = send_slots;
  s->rmsgs = (struct mmsghdr *)calloc(batch, sizeof *s->rmsgs);
  s->riov = (struct iovec *)calloc(batch, sizeof *s->riov);
  s->raddr = (struct sockaddr_in6 *)calloc(batch, sizeof *s->raddr);
  if (!s->rmsgs || !s->riov || !s->raddr) {
    free_sock(s);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  void *p;
  napi_value rdata = make_buffer(env, (size_t)batch * s->stride, &p);
  s->rdata = (uint8_t *)p;
  napi_value rmeta = rdata ? make_buffer(env, (size_t)batch * META_INTS * 4, &p) : NULL;
  s->rmeta = (int32_t *)p;
  napi_value sdata = rmeta ? make_buffer(env, send_bytes, &p) : NULL;
  s->sdata = (uint8_t *)p;
  napi_value smeta = sdata ? make_buffer(env, (size_t)send_slots * META_INTS * 4, &p) : NULL;
  s->smeta = (int32_t *)p;
  napi_value control = smeta ? make_buffer(env, C_COUNT * 4, &p) : NULL;
  s->control = (int32_t *)p;
  if (!control) {
    free_sock(s);
    return throw_last(env);
  }
  for (unsigned i = 0; i < batch; i++) {
    s->riov[i].iov_base = s->rdata + (size_t)i * s->stride;
    s->riov[i].iov_len = slot;
    s->rmsgs[i].msg_hdr.msg_name = &s->raddr[i];
    s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  napi_value stride_v, batch_v, slot_v, slots_v;
  napi_create_uint32(env, s->stride, &stride_v);
  napi_create_uint32(env, batch, &batch_v);
  napi_create_uint32(env, slot, &slot_v);
  napi_create_uint32(env, send_slots, &slots_v);
  /* Read-only, non-configurable: JS cannot swap the memory the addon writes to. */
  napi_property_descriptor props[] = {
      {"recvData", NULL, NULL, NULL, NULL, rdata, napi_enumerable, NULL},
      {"recvMeta", NULL, NULL, NULL, NULL, rmeta, napi_enumerable, NULL},
      {"sendData", NULL, NULL, NULL, NULL, sdata, napi_enumerable, NULL},
      {"sendMeta", NULL, NULL, NULL, NULL, smeta, napi_enumerable, NULL},
      {"control", NULL, NULL, NULL, NULL, control, napi_enumerable, NULL},
      {"recvStride", NULL, NULL, NULL, NULL, stride_v, napi_enumerable, NULL},
      {"batch", NULL, NULL, NULL, NULL, batch_v, napi_enumerable, NULL},
      {"slotSize", NULL, NULL, NULL, NULL, slot_v, napi_enumerable, NULL},
      {"sendSlots", NULL, NULL, NULL, NULL, slots_v, napi_enumerable, NULL},
      /* Not enumerable: referenced strongly by the addon only while the socket is open. */
      {"onEvent", NULL, NULL, NULL, NULL, argv[0], napi_default, NULL},
  };
  if (napi_define_properties(env, self, sizeof props / sizeof props[0], props) != napi_ok ||
      napi_wrap(env, self, s, finalize, NULL, &s->self) != napi_ok) {
    free_sock(s);
    return throw_last(env);
  }
  return self;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"bind", NULL, m_bind, NULL, NULL, NULL, napi_default_method, NULL},
      {"flush", NULL, m_flush, NULL, NULL, NULL, napi_default_method, NULL},
      {"setReceiving", NULL, m_set_receiving, NULL, NULL, NULL, napi_default_method, NULL},
      {"setRef", NULL, m_set_ref, NULL, NULL, NULL, napi_default_method, NULL},
      {"bufferSizes", NULL, m_buffer_sizes, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, m_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value cls;
  if (napi_define_class(env, "UdpBatchSocket", NAPI_AUTO_LENGTH, m_new, NULL, sizeof methods / sizeof methods[0],
                        methods, &cls) != napi_ok)
    return NULL;
  napi_set_named_property(env, exports, "UdpBatchSocket", cls);
  napi_value version;
  napi_create_uint32(env, 1, &version);
  napi_set_named_property(env, exports, "abiVersion", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
