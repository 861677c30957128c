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
