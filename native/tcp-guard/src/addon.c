/*
 * addon: the N-API face of the TCP guard (see guard.h for what it does and
 * why). Plain C, Linux.
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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <node_api.h>

#include "conn_table.h"
#include "guard.h"

#define ABI_VERSION 1
#define RULE_BYTES 17

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
  char path[4096];
  size_t length;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length) != napi_ok || length == 0 ||
      length >= sizeof path - 1) {
    return throw_error(env, "hook(path): path must be a file path");
  }
  const char *why = guard_hook(path);
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
  return configure_table(env, guard_table(), argv);
}

static napi_value stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_object(env, &out);
  const conn_table *table = guard_table();
  const guard_counters *counts = guard_counts();
  set_number(env, out, "hooked", guard_hooked());
  set_number(env, out, "open", table->open);
  set_number(env, out, "addresses", table->addresses);
  set_number(env, out, "refusedTotal", (double)counts->refused_total);
  set_number(env, out, "refusedPerAddress", (double)counts->refused_per_address);
  set_number(env, out, "emfile", (double)counts->emfile);
  set_number(env, out, "enfile", (double)counts->enfile);
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
  guard_init();
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
