#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "plt_hook.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* 64-bit only: ElfW is Elf64 there, and the relocation macros below are ELF64_*. */
#if defined(__x86_64__)
#define JUMP_SLOT R_X86_64_JUMP_SLOT
#elif defined(__aarch64__)
#define JUMP_SLOT R_AARCH64_JUMP_SLOT
#endif

static char message[256];

typedef struct {
  dev_t dev;
  ino_t ino;
  plt_object *object;
  plt_entry *entries;
  size_t count;
  int found;
  const char *error;
} search;

/* glibc rewrites the dynamic section's pointers to run-time addresses when it
 * loads an object; musl leaves them as offsets from the load base. */
static uintptr_t dyn_address(uintptr_t base, uintptr_t value) {
  return value < base ? base + value : value;
}

#ifdef JUMP_SLOT
static int visit(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  search *s = data;
  struct stat st;
  if (!info->dlpi_name || info->dlpi_name[0] == '\0' || stat(info->dlpi_name, &st) != 0) return 0;
  if (st.st_dev != s->dev || st.st_ino != s->ino) return 0;
  s->found = 1;

  uintptr_t base = info->dlpi_addr;
  const ElfW(Dyn) *dyn = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(base + ph->p_vaddr);
    if (ph->p_type == PT_GNU_RELRO) {
      s->object->relro_start = base + ph->p_vaddr;
      s->object->relro_end = base + ph->p_vaddr + ph->p_memsz;
    }
  }
  if (!dyn) {
    s->error = "it has no dynamic section";
    return 1;
  }

  uintptr_t jmprel = 0, symtab = 0, strtab = 0;
  size_t pltrelsz = 0, strsz = 0;
  long pltrel = 0;
  for (; dyn->d_tag != DT_NULL; dyn++) {
    switch (dyn->d_tag) {
    case DT_JMPREL: jmprel = dyn->d_un.d_ptr; break;
    case DT_PLTRELSZ: pltrelsz = dyn->d_un.d_val; break;
    case DT_PLTREL: pltrel = (long)dyn->d_un.d_val; break;
    case DT_SYMTAB: symtab = dyn->d_un.d_ptr; break;
    case DT_STRTAB: strtab = dyn->d_un.d_ptr; break;
    case DT_STRSZ: strsz = dyn->d_un.d_val; break;
    }
  }
  if (!jmprel || !symtab || !strtab || !pltrelsz) {
    s->error = "it has no PLT relocations";
    return 1;
  }
  if (pltrel != DT_RELA) {
    s->error = "its PLT relocations are not RELA";
    return 1;
  }

  const ElfW(Rela) *rel = (const ElfW(Rela) *)dyn_address(base, jmprel);
  const ElfW(Sym) *syms = (const ElfW(Sym) *)dyn_address(base, symtab);
  const char *names = (const char *)dyn_address(base, strtab);
  for (size_t r = 0; r < pltrelsz / sizeof *rel; r++) {
    if (ELF64_R_TYPE(rel[r].r_info) != JUMP_SLOT) continue;
    const ElfW(Sym) *sym = &syms[ELF64_R_SYM(rel[r].r_info)];
    if (strsz && sym->st_name >= strsz) continue;
    for (size_t e = 0; e < s->count; e++) {
      if (strcmp(names + sym->st_name, s->entries[e].symbol) == 0) s->entries[e].slot = (void **)(base + rel[r].r_offset);
    }
  }
  return 1;
}
#endif

const char *plt_find(const char *path, plt_object *object, plt_entry *entries, size_t count) {
#ifndef JUMP_SLOT
  (void)path, (void)object, (void)entries, (void)count;
  return "this CPU architecture is not supported (x86-64 and arm64 are)";
#else
  struct stat st;
  if (stat(path, &st) != 0) return "the file does not exist";
  /* Our own calls to libc go through our own PLT: hooking it would make the
   * wrappers call themselves. */
  Dl_info self;
  struct stat own;
  if (dladdr((void *)plt_find, &self) && self.dli_fname && stat(self.dli_fname, &own) == 0 && own.st_dev == st.st_dev &&
      own.st_ino == st.st_ino) {
    return "that is the guard itself";
  }
  memset(object, 0, sizeof *object);
  for (size_t e = 0; e < count; e++) entries[e].slot = NULL;
  search s = {st.st_dev, st.st_ino, object, entries, count, 0, NULL};
  dl_iterate_phdr(visit, &s);
  if (!s.found) return "it is not loaded in this process";
  if (s.error) return s.error;
  for (size_t e = 0; e < count; e++) {
    if (!entries[e].slot) {
      snprintf(message, sizeof message, "it does not call %s through its PLT (a different build?)", entries[e].symbol);
      return message;
    }
  }
  return NULL;
#endif
}

const char *plt_patch(const plt_object *object, plt_entry *entries, size_t count) {
  long page = sysconf(_SC_PAGESIZE);
  for (size_t e = 0; e < count; e++) {
    uintptr_t at = (uintptr_t)entries[e].slot;
    int protected = at >= object->relro_start && at < object->relro_end;
    uintptr_t start = at & ~(uintptr_t)(page - 1);
    if (protected && mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) != 0) {
      snprintf(message, sizeof message, "cannot make its GOT writable for %s", entries[e].symbol);
      return message;
    }
    /* One aligned pointer store: a call racing with it sees the old or the new target. */
    __atomic_store_n(entries[e].slot, entries[e].replacement, __ATOMIC_RELEASE);
    if (protected) mprotect((void *)start, (size_t)page, PROT_READ);
  }
  return NULL;
}
