/*
 * conn_table: which accepted connections are open, in total and per source
 * address, and whether one more may be admitted. Pure bookkeeping: no
 * system calls, so the rules can be tested on their own (ConnTable in JS).
 *
 * Addresses live in the IPv6 space (an IPv4 address is ::ffff:a.b.c.d).
 * The per-address count is kept per IPv4 address and per IPv6 /64: one
 * IPv6 host usually holds a whole /64, so counting single IPv6 addresses
 * would let one machine open as many connections as it likes.
 *
 * Both tables grow on demand (doubling), so memory follows what is open,
 * not what the caps would allow.
 */
#ifndef TCP_GUARD_CONN_TABLE_H
#define TCP_GUARD_CONN_TABLE_H

#include <stdint.h>

/* A CIDR rule in the IPv6 space: an IPv4 /n is ::ffff:a.b.c.d/(96 + n). */
typedef struct {
  uint8_t network[16];
  uint8_t prefix; /* 0..128 */
} ct_rule;

typedef struct {
  uint8_t key[16]; /* the IPv4 address, or the IPv6 /64 with the rest zero */
  uint32_t count;  /* open connections from key; 0 = empty bucket */
} ct_bucket;

typedef struct {
  uint8_t key[16];
  uint8_t tracked; /* admitted and not released yet */
  uint8_t keyed;   /* counted against key (not exempt, has an address) */
} ct_fd;

typedef struct {
  uint32_t max_total;
  uint32_t max_per_address;
  uint32_t open;      /* tracked connections */
  uint32_t addresses; /* non-empty buckets */
  ct_bucket *buckets; /* open addressing, linear probing */
  uint32_t mask;      /* bucket count - 1 (a power of two); 0 before the first insert */
  ct_fd *fds;         /* indexed by file descriptor */
  uint32_t fd_capacity;
  ct_rule *rules; /* addresses matching any rule are exempt from the per-address cap */
  uint32_t rule_count;
  uint64_t seed[2]; /* keeps bucket positions unpredictable to whoever picks the addresses */
} conn_table;

enum {
  CT_ADMITTED = 0,
  CT_OVER_TOTAL = 1,
  CT_OVER_PER_ADDRESS = 2,
  CT_NO_MEMORY = 3, /* could not grow a table: refused, as a connection we cannot track must not stay */
};

void ct_init(conn_table *t, uint64_t seed0, uint64_t seed1);
/* Sets the caps and the exempt rules (copied). Connections already open stay
 * counted. Returns 0, or -1 when the rules cannot be copied (nothing changed). */
int ct_configure(conn_table *t, uint32_t max_total, uint32_t max_per_address, const ct_rule *rules, uint32_t rule_count);
/* `address` is 16 bytes in the IPv6 space, or NULL when the peer has none
 * (a Unix socket): such connections count only towards the total. */
int ct_admit(conn_table *t, int fd, const uint8_t *address);
/* Forgets fd if it was admitted; any other fd is ignored. */
void ct_release(conn_table *t, int fd);
/* Open connections counted against the key of `address`. */
uint32_t ct_count(const conn_table *t, const uint8_t *address);
void ct_free(conn_table *t);

#endif
