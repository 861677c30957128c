/* utils.c: small helpers shared by the server's files. */

#include <stdlib.h>
#include <errno.h>

#include "internal.h"

void
cleanup_free (void *ptr)
{
  free (*(void **) ptr);
}

void
cleanup_unlock (pthread_mutex_t **ptr)
{
  if (pthread_mutex_unlock (*ptr) != 0)
    abort ();
}

int
start_detached_thread (void *(*fn) (void *), void *arg)
{
  pthread_attr_t attr;
  pthread_t thread;
  int err;

  err = pthread_attr_init (&attr);
  if (err == 0) {
    err = pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
    if (err == 0)
      err = pthread_create (&thread, &attr, fn, arg);
    pthread_attr_destroy (&attr);
  }
  if (err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

int
string_vector_append (struct string_vector *v, char *s)
{
  if (v->len == v->cap) {
    size_t ncap = v->cap ? v->cap * 2 : 8;
    char **nptr = realloc (v->ptr, ncap * sizeof *nptr);
    if (nptr == NULL)
      return -1;
    v->ptr = nptr;
    v->cap = ncap;
  }
  v->ptr[v->len++] = s;
  return 0;
}

void
string_vector_free_all (struct string_vector *v)
{
  size_t i;

  for (i = 0; i < v->len; ++i)
    free (v->ptr[i]);
  free (v->ptr);
  v->ptr = NULL;
  v->len = v->cap = 0;
}

/* Make a string from the client safe for one log line: printable ASCII
 * is kept; backslash and both quote characters get a backslash (so the
 * result reads the same between quotes of either kind and can always be
 * decoded); newline, carriage return and tab become \n \r \t; every
 * other byte (other control characters, DEL, and all bytes >= 0x80,
 * which also covers C1 controls and terminal tricks hidden in UTF-8)
 * becomes \xNN.  Returns a new string, or NULL if out of memory.
 */
char *
log_escape (const char *s, size_t len)
{
  static const char hex[] = "0123456789abcdef";
  char *out, *p;
  size_t i;

  if (len > (SIZE_MAX - 1) / 4)
    return NULL;
  out = malloc (4 * len + 1);
  if (out == NULL)
    return NULL;
  p = out;
  for (i = 0; i < len; ++i) {
    const unsigned char c = s[i];

    switch (c) {
    case '\\': *p++ = '\\'; *p++ = '\\'; break;
    case '\'': *p++ = '\\'; *p++ = '\''; break;
    case '"':  *p++ = '\\'; *p++ = '"'; break;
    case '\n': *p++ = '\\'; *p++ = 'n'; break;
    case '\r': *p++ = '\\'; *p++ = 'r'; break;
    case '\t': *p++ = '\\'; *p++ = 't'; break;
    default:
      if (c >= 0x20 && c <= 0x7e)
        *p++ = c;
      else {
        *p++ = '\\';
        *p++ = 'x';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0xf];
      }
    }
  }
  *p = '\0';
  return out;
}
