/* intern.c: strings whose lifetime the server manages for the plugin.
 *
 * Some callbacks (.default_export, .export_description, ...) return
 * const char * and a plugin may have nothing static to return.  An
 * interned copy lives as long as the current connection when made
 * inside one (it goes into conn->interned, which the connection
 * teardown frees), and otherwise until the plugin is unloaded
 * (free_interns).
 *
 * One mutex protects both kinds of list: with the parallel thread
 * model several worker threads of the same connection may intern at
 * once, and the global list is shared by everyone.  Interning is rare
 * and cheap, so a single lock costs nothing worth optimising.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "internal.h"

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static struct string_vector global_interns;

/* Take ownership of s and keep it for the right lifetime.  On error s
 * is freed and NULL returned.
 */
static const char *
add_intern (char *s)
{
  struct connection *conn = threadlocal_get_conn ();
  struct string_vector *list = conn ? &conn->interned : &global_interns;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&intern_lock);

  if (string_vector_append (list, s) == -1) {
    errno = ENOMEM;
    nbdkit_error ("nbdkit_strdup_intern: %m");
    free (s);
    return NULL;
  }
  return s;
}

NBDKIT_DLL_PUBLIC const char *
nbdkit_strndup_intern (const char *str, size_t n)
{
  char *copy;

  if (str == NULL) {
    nbdkit_error ("nbdkit_strndup_intern: string must not be NULL");
    errno = EINVAL;
    return NULL;
  }
  copy = strndup (str, n);
  if (copy == NULL) {
    nbdkit_error ("strndup: %m");
    return NULL;
  }
  return add_intern (copy);
}

NBDKIT_DLL_PUBLIC const char *
nbdkit_strdup_intern (const char *str)
{
  char *copy;

  if (str == NULL) {
    nbdkit_error ("nbdkit_strdup_intern: string must not be NULL");
    errno = EINVAL;
    return NULL;
  }
  copy = strdup (str);
  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return NULL;
  }
  return add_intern (copy);
}

NBDKIT_DLL_PUBLIC const char *
nbdkit_vprintf_intern (const char *fmt, va_list args)
{
  char *s;

  if (vasprintf (&s, fmt, args) == -1) {
    nbdkit_error ("vasprintf: %m");
    return NULL;
  }
  return add_intern (s);
}

NBDKIT_DLL_PUBLIC const char *
nbdkit_printf_intern (const char *fmt, ...)
{
  va_list args;
  const char *ret;

  va_start (args, fmt);
  ret = nbdkit_vprintf_intern (fmt, args);
  va_end (args);
  return ret;
}

void
free_interns (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&intern_lock);

  string_vector_free_all (&global_interns);
}
