/* watchdog.h: the interface between requests.c and watchdog.c.
 *
 * A connection served by several threads has one "read role": the
 * thread holding it reads the next request.  The role word says who
 * has it and what that thread is doing, with a sequence number that
 * changes with every request the holder runs itself:
 *
 *   ROLE_HELD     a thread holds the role and is reading or deciding
 *   ROLE_RUNNING  the holder is running request number seq itself; the
 *                 watchdog may take the role away from it (-> FREE)
 *   ROLE_FREE     nobody holds it: the next thread free takes it
 *   ROLE_DONE     the connection has stopped reading
 */

#ifndef NBDKIT_WATCHDOG_H
#define NBDKIT_WATCHDOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum role_state {
  ROLE_HELD = 0,
  ROLE_RUNNING = 1,
  ROLE_FREE = 2,
  ROLE_DONE = 3,
};

static inline uint64_t
role_word (uint64_t seq, enum role_state state)
{
  return seq << 2 | state;
}

static inline enum role_state
role_state (uint64_t word)
{
  return (enum role_state) (word & 3);
}

static inline uint64_t
role_seq (uint64_t word)
{
  return word >> 2;
}

struct watched {
  _Atomic uint64_t *role;
  /* Called (with the watchdog's lock held) when the role word has said
   * ROLE_RUNNING with the same seq for a whole tick.  word is what was
   * read.
   */
  void (*rescue) (struct watched *w, uint64_t word);
  uint64_t last_word;           /* watchdog only */
  struct watched *next, *prev;  /* watchdog only */
};

/* True while the watchdog sleeps without a timeout: after storing a
 * ROLE_RUNNING word, a reader that sees this must call watchdog_wake.
 */
extern _Atomic bool watchdog_sleeping;

void watchdog_register (struct watched *w);
void watchdog_unregister (struct watched *w);
void watchdog_wake (void);

#endif /* NBDKIT_WATCHDOG_H */
