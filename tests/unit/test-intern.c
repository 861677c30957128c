/* test-intern.c: server/intern.c.
 *
 * Inside a connection interned strings must land in conn->interned
 * (the connection teardown frees them); outside, in the global list
 * that free_interns releases.  Run under valgrind or ASan to check that
 * nothing leaks.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <errno.h>
#include <pthread.h>

#include "stubs.h"

static const char *
call_vprintf (const char *fmt, ...)
{
  va_list args;
  const char *r;

  va_start (args, fmt);
  r = nbdkit_vprintf_intern (fmt, args);
  va_end (args);
  return r;
}

static void
test_outside_connection (void)
{
  char buf[] = "hello";
  const char *s;

  thread_state.conn = NULL;
  stub_reset ();

  s = nbdkit_strdup_intern (buf);
  CHECK (s != buf);
  CHECK_STREQ (s, "hello");
  /* A copy: the plugin may reuse its buffer. */
  buf[0] = 'j';
  CHECK_STREQ (s, "hello");

  CHECK_STREQ (nbdkit_strndup_intern ("hello", 3), "hel");
  CHECK_STREQ (nbdkit_strndup_intern ("hello", 100), "hello");
  CHECK_STREQ (nbdkit_strndup_intern ("hello", 0), "");
  CHECK_STREQ (nbdkit_strdup_intern (""), "");
  CHECK_STREQ (nbdkit_printf_intern ("x%dy", 42), "x42y");
  CHECK_STREQ (nbdkit_printf_intern ("%s-%s", "a", "b"), "a-b");
  CHECK_STREQ (call_vprintf ("%05d", 7), "00007");
  CHECK_NO_ERROR ();

  stub_reset ();
  CHECK (nbdkit_strdup_intern (NULL) == NULL);
  CHECK (stub_error_count == 1);
  stub_reset ();
  CHECK (nbdkit_strndup_intern (NULL, 1) == NULL);
  CHECK (stub_error_count == 1);

  /* free_interns empties the list; interning works again after. */
  free_interns ();
  free_interns ();
  CHECK_STREQ (nbdkit_strdup_intern ("again"), "again");
  free_interns ();
}

static void
test_inside_connection (void)
{
  struct connection conn;
  const char *a, *b, *c;

  memset (&conn, 0, sizeof conn);
  thread_state.conn = &conn;
  stub_reset ();

  a = nbdkit_strdup_intern ("one");
  b = nbdkit_strndup_intern ("twotwo", 3);
  c = nbdkit_printf_intern ("%d", 3);
  CHECK_STREQ (a, "one");
  CHECK_STREQ (b, "two");
  CHECK_STREQ (c, "3");
  CHECK (conn.interned.len == 3);
  CHECK (conn.interned.len == 3 && conn.interned.ptr[0] == a &&
         conn.interned.ptr[1] == b && conn.interned.ptr[2] == c);
  CHECK_NO_ERROR ();

  /* The connection's teardown does this. */
  string_vector_free_all (&conn.interned);
  thread_state.conn = NULL;
}

/* Worker threads of one connection (parallel thread model) intern
 * concurrently; none of the strings may be lost.
 */
#define NR_THREADS 8
#define PER_THREAD 2000

static struct connection shared_conn;

static void *
intern_worker (void *arg)
{
  int i;

  thread_state.conn = &shared_conn;
  for (i = 0; i < PER_THREAD; ++i)
    if (nbdkit_printf_intern ("%p-%d", arg, i) == NULL)
      abort ();
  return NULL;
}

static void *
intern_global_worker (void *arg)
{
  int i;

  thread_state.conn = NULL;
  for (i = 0; i < PER_THREAD; ++i)
    if (nbdkit_printf_intern ("%p-%d", arg, i) == NULL)
      abort ();
  return NULL;
}

static void
test_threads (void)
{
  pthread_t t[NR_THREADS * 2];
  int ids[NR_THREADS * 2];
  size_t i;

  memset (&shared_conn, 0, sizeof shared_conn);
  for (i = 0; i < NR_THREADS; ++i) {
    if (pthread_create (&t[i], NULL, intern_worker, &ids[i]) != 0)
      abort ();
    if (pthread_create (&t[NR_THREADS+i], NULL,
                        intern_global_worker, &ids[NR_THREADS+i]) != 0)
      abort ();
  }
  for (i = 0; i < NR_THREADS * 2; ++i)
    pthread_join (t[i], NULL);

  CHECK (shared_conn.interned.len == NR_THREADS * PER_THREAD);
  for (i = 0; i < shared_conn.interned.len; ++i)
    CHECK_MSG (shared_conn.interned.ptr[i] != NULL, "entry %zu", i);
  string_vector_free_all (&shared_conn.interned);
  free_interns ();
}

int
main (void)
{
  test_outside_connection ();
  test_inside_connection ();
  test_threads ();
  return test_finish ("test-intern");
}
