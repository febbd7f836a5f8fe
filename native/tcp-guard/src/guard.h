/*
 * guard: the accept4 and close wrappers patched into uWebSockets.js, and the
 * process-wide state they share (one conn_table, the counters, the spare
 * descriptor).
 *
 * uWebSockets.js 20.30 gives JavaScript no hook at connection level: a
 * connection is invisible until it sends a request, and its accept loop
 * (uSockets) retries forever when accept4 fails with EMFILE, because the
 * listen socket stays readable. guard_hook rewrites the uws module's GOT
 * slots for accept4 and close (plt_hook.c) to point at the wrappers in
 * guard.c. Nothing else in the process is affected.
 *
 * The accept4 wrapper accepts the next pending connection and asks
 * conn_table whether it may stay. Over a cap it is reset (SO_LINGER 0: the
 * client gets an RST at once and we keep no TIME_WAIT state), counted, and
 * the next pending one is tried, so the backlog drains; after REFUSE_BURST
 * refusals it returns EAGAIN to let the event loop run other work (the
 * listen socket is level-triggered and comes back). At EMFILE/ENFILE it does
 * what libuv does for Node's own servers: close a spare descriptor, accept
 * and reset what is pending, reopen the spare, and report EAGAIN, so the
 * listen socket is no longer readable and nothing spins. The close wrapper
 * forgets the descriptor if it was admitted.
 *
 * Threads: uWebSockets.js runs on the thread of Node's main event loop, the
 * thread that installs the hook. Calls from any other thread (a worker that
 * loaded uws itself) pass straight through, so the table and counters are
 * only ever touched by one thread and need no locks; JS reads them on that
 * same thread.
 */
#ifndef TCP_GUARD_GUARD_H
#define TCP_GUARD_GUARD_H

#include <stdint.h>

#include "conn_table.h"

typedef struct {
  uint64_t refused_total;       /* reset: the total cap was reached */
  uint64_t refused_per_address; /* reset: the address was at its cap */
  uint64_t emfile, enfile;      /* accept4 failed for lack of descriptors */
} guard_counters;

/* Once per process, before anything else (idempotent). */
void guard_init(void);
/* Patches the loaded object at `path`; NULL on success (or if done before), else why not. */
const char *guard_hook(const char *path);
int guard_hooked(void);
/* The process-wide table: its caps are set with ct_configure. */
conn_table *guard_table(void);
const guard_counters *guard_counts(void);

#endif
