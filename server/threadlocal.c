/* threadlocal.c: per-thread state.
 *
 * The server runs plugin callbacks on several threads (the connection
 * thread and, with the parallel thread model, worker threads).  What a
 * callback needs to know implicitly -- which connection it serves, the
 * errno it wants to send, the log prefix -- lives here, in a __thread
 * variable, so that reading it costs one memory access.
 */

#include "internal.h"

__thread struct thread_state thread_state;
