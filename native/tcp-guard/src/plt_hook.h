/*
 * plt_hook: redirect calls that one loaded shared object makes to libc
 * functions, by rewriting that object's GOT slots (what the plthook library
 * does). Only that object is affected; libuv, Node and every other library
 * keep calling libc directly.
 */
#ifndef TCP_GUARD_PLT_HOOK_H
#define TCP_GUARD_PLT_HOOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  /* The object's PT_GNU_RELRO range: made read-only after relocation, so a
   * slot there (a BIND_NOW build) must be unprotected to be written. */
  uintptr_t relro_start, relro_end;
} plt_object;

typedef struct {
  const char *symbol; /* e.g. "accept4" */
  void *replacement;
  void **slot; /* found by plt_find */
} plt_entry;

/* Finds the loaded object whose file is `path` (same device and inode) and,
 * for each entry, the GOT slot through which it calls `symbol`. Returns NULL
 * when every slot was found, else why not (a static string). Writes nothing. */
const char *plt_find(const char *path, plt_object *object, plt_entry *entries, size_t count);

/* Points every found slot at its replacement (making a RELRO page writable
 * for the moment if it has to). Returns NULL or why it could not. */
const char *plt_patch(const plt_object *object, plt_entry *entries, size_t count);

#endif
