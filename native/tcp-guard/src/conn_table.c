#include "conn_table.h"

#include <stdlib.h>
#include <string.h>

#define MIN_BUCKETS 256
#define MIN_FDS 1024

static const uint8_t V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void ct_init(conn_table *t, uint64_t seed0, uint64_t seed1) {
  memset(t, 0, sizeof *t);
  t->seed[0] = seed0;
  t->seed[1] = seed1;
}

int ct_configure(conn_table *t, uint32_t max_total, uint32_t max_per_address, const ct_rule *rules, uint32_t rule_count) {
  ct_rule *copy = NULL;
  if (rule_count > 0) {
    copy = malloc(sizeof *copy * rule_count);
    if (!copy) return -1;
    memcpy(copy, rules, sizeof *copy * rule_count);
  }
  free(t->rules);
  t->rules = copy;
  t->rule_count = rule_count;
  t->max_total = max_total;
  t->max_per_address = max_per_address;
  return 0;
}

static void key_of(const uint8_t *address, uint8_t *key) {
  if (memcmp(address, V4_MAPPED, sizeof V4_MAPPED) == 0) {
    memcpy(key, address, 16);
  } else {
    memcpy(key, address, 8); /* the /64 */
    memset(key + 8, 0, 8);
  }
}

static int exempt(const conn_table *t, const uint8_t *address) {
  for (uint32_t r = 0; r < t->rule_count; r++) {
    const ct_rule *rule = &t->rules[r];
    uint32_t full = rule->prefix >> 3, rest = rule->prefix & 7;
    if (memcmp(address, rule->network, full) != 0) continue;
    if (rest != 0 && ((address[full] ^ rule->network[full]) & (uint8_t)(0xff << (8 - rest))) != 0) continue;
    return 1;
  }
  return 0;
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static uint32_t home(const conn_table *t, const uint8_t *key) {
  uint64_t a, b;
  memcpy(&a, key, 8);
  memcpy(&b, key + 8, 8);
  return (uint32_t)(mix64(mix64(a ^ t->seed[0]) ^ b ^ t->seed[1]) >> 32) & t->mask;
}

static ct_bucket *find(const conn_table *t, const uint8_t *key) {
  if (!t->buckets) return NULL;
  for (uint32_t i = home(t, key);; i = (i + 1) & t->mask) {
    ct_bucket *b = &t->buckets[i];
    if (b->count == 0) return NULL;
    if (memcmp(b->key, key, 16) == 0) return b;
  }
}

/* Keeps the load factor at most 1/2, so probe runs stay short. */
static int reserve_buckets(conn_table *t, uint32_t addresses) {
  uint32_t size = t->buckets ? t->mask + 1 : 0;
  if ((uint64_t)addresses * 2 <= size) return 0;
  uint32_t wanted = size ? size : MIN_BUCKETS;
  while ((uint64_t)addresses * 2 > wanted) {
    if (wanted > (UINT32_MAX >> 1)) return -1;
    wanted <<= 1;
  }
  ct_bucket *fresh = calloc(wanted, sizeof *fresh);
  if (!fresh) return -1;
  ct_bucket *old = t->buckets;
  t->buckets = fresh;
  t->mask = wanted - 1;
  for (uint32_t i = 0; i < size; i++) {
    if (old[i].count == 0) continue;
    uint32_t j = home(t, old[i].key);
    while (fresh[j].count != 0) j = (j + 1) & t->mask;
    fresh[j] = old[i];
  }
  free(old);
  return 0;
}

static int reserve_fds(conn_table *t, int fd) {
  if ((uint32_t)fd < t->fd_capacity) return 0;
  uint64_t wanted = t->fd_capacity ? t->fd_capacity : MIN_FDS;
  while (wanted <= (uint64_t)fd) wanted <<= 1;
  if (wanted > UINT32_MAX) return -1;
  ct_fd *grown = realloc(t->fds, sizeof *grown * wanted);
  if (!grown) return -1;
  memset(grown + t->fd_capacity, 0, sizeof *grown * (wanted - t->fd_capacity));
  t->fds = grown;
  t->fd_capacity = (uint32_t)wanted;
  return 0;
}

/* Backward-shift deletion: later members of the probe run move up, so no
 * tombstones accumulate under churn. */
static void remove_bucket(conn_table *t, ct_bucket *gone) {
  uint32_t i = (uint32_t)(gone - t->buckets);
  for (uint32_t j = (i + 1) & t->mask; t->buckets[j].count != 0; j = (j + 1) & t->mask) {
    uint32_t k = home(t, t->buckets[j].key);
    /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
    int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    t->buckets[i] = t->buckets[j];
    i = j;
  }
  t->buckets[i].count = 0;
  t->addresses--;
}

int ct_admit(conn_table *t, int fd, const uint8_t *address) {
  if (fd < 0) return CT_NO_MEMORY;
  /* Tracked but handed out again: it was closed by a path we do not see.
   * Forget the old connection so counts cannot drift upwards. */
  if ((uint32_t)fd < t->fd_capacity && t->fds[fd].tracked) ct_release(t, fd);

  uint8_t key[16];
  int keyed = address != NULL && !exempt(t, address);
  ct_bucket *bucket = NULL;
  if (keyed) {
    key_of(address, key);
    bucket = find(t, key);
    if ((bucket ? bucket->count : 0) >= t->max_per_address) return CT_OVER_PER_ADDRESS;
  }
  if (t->open >= t->max_total) return CT_OVER_TOTAL;
  if (reserve_fds(t, fd) != 0) return CT_NO_MEMORY;
  if (keyed && !bucket) {
    if (reserve_buckets(t, t->addresses + 1) != 0) return CT_NO_MEMORY;
    uint32_t i = home(t, key);
    while (t->buckets[i].count != 0) i = (i + 1) & t->mask;
    bucket = &t->buckets[i];
    memcpy(bucket->key, key, 16);
    t->addresses++;
  }
  ct_fd *slot = &t->fds[fd];
  if (keyed) {
    bucket->count++;
    memcpy(slot->key, key, 16);
  }
  slot->keyed = (uint8_t)keyed;
  slot->tracked = 1;
  t->open++;
  return CT_ADMITTED;
}

void ct_release(conn_table *t, int fd) {
  if (fd < 0 || (uint32_t)fd >= t->fd_capacity || !t->fds[fd].tracked) return;
  ct_fd *slot = &t->fds[fd];
  if (slot->keyed) {
    ct_bucket *bucket = find(t, slot->key);
    if (bucket && --bucket->count == 0) remove_bucket(t, bucket);
  }
  slot->tracked = 0;
  slot->keyed = 0;
  t->open--;
}

uint32_t ct_count(const conn_table *t, const uint8_t *address) {
  uint8_t key[16];
  key_of(address, key);
  const ct_bucket *bucket = find(t, key);
  return bucket ? bucket->count : 0;
}

void ct_free(conn_table *t) {
  free(t->buckets);
  free(t->fds);
  free(t->rules);
  memset(t, 0, sizeof *t);
}
