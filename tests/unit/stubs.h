/* stubs.h: what unit tests of single server files link against.
 *
 * stubs.c stands in for the rest of the server (log.c, threadlocal.c,
 * quit.c, connections.c, utils.c): it records the last error and debug
 * message instead of printing them, and records calls that would have
 * side effects (conn_disconnect).  It also holds a minimal checking
 * harness so every test reports failures the same way.
 */

#ifndef NBDKIT_UNIT_STUBS_H
#define NBDKIT_UNIT_STUBS_H

#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Last message passed to nbdkit_error (formatted, %m expanded) and how
 * many errors were reported since stub_reset.
 */
extern char stub_last_error[4096];
extern unsigned stub_error_count;
extern char stub_last_debug[4096];

/* conn_disconnect calls. */
extern unsigned stub_disconnect_calls;
extern bool stub_disconnect_force;

/* Clear all of the above. */
void stub_reset (void);

/* Checking harness.  CHECK records a failure and carries on, so one
 * run reports every broken table row.
 */
extern unsigned test_failures;
extern unsigned test_checks;

#define CHECK(cond)                                                     \
  do {                                                                  \
    test_checks++;                                                      \
    if (!(cond)) {                                                      \
      test_failures++;                                                  \
      fprintf (stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                   \
  } while (0)

/* Like CHECK, with context (usually the table row) printed on failure. */
#define CHECK_MSG(cond, ...)                                            \
  do {                                                                  \
    test_checks++;                                                      \
    if (!(cond)) {                                                      \
      test_failures++;                                                  \
      fprintf (stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond); \
      fprintf (stderr, __VA_ARGS__);                                    \
      fprintf (stderr, "\n");                                           \
    }                                                                   \
  } while (0)

#define CHECK_STREQ(a, b)                                               \
  do {                                                                  \
    const char *_a = (a), *_b = (b);                                    \
    test_checks++;                                                      \
    if (_a == NULL || _b == NULL || strcmp (_a, _b) != 0) {             \
      test_failures++;                                                  \
      fprintf (stderr, "%s:%d: FAIL: %s == %s: \"%s\" != \"%s\"\n",     \
               __FILE__, __LINE__, #a, #b,                              \
               _a ? _a : "(null)", _b ? _b : "(null)");                 \
    }                                                                   \
  } while (0)

/* Expect exactly one nbdkit_error since the last stub_reset, with this
 * text.
 */
#define CHECK_ERROR(msg)                                                \
  do {                                                                  \
    CHECK (stub_error_count == 1);                                      \
    CHECK_STREQ (stub_last_error, (msg));                               \
  } while (0)

#define CHECK_NO_ERROR() CHECK_MSG (stub_error_count == 0,             \
                                    "unexpected error: %s",             \
                                    stub_last_error)

/* Print a summary; returns the process exit status. */
int test_finish (const char *name);

#endif /* NBDKIT_UNIT_STUBS_H */
