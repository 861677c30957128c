/* luap-alloc.c: the memory allocator of our Lua states.
 *
 * Why not the default (plain realloc/free)?  The data path of an NBD
 * server in Lua makes a few large, short-lived strings per request:
 * the data pread returns, the buffer pwrite receives, the pieces a
 * script concatenates.  With a small live heap the collector frees
 * them almost at once, and glibc hands the memory back to the kernel
 * (munmap, or trimming the heap) only to take it again for the next
 * request, so every large string costs page faults.  On a Lua RAM disk
 * read with nbdcopy that was most of the time spent per request.
 *
 * So each state keeps a few freed large blocks and reuses them for
 * allocations of the same page-rounded size.  The cache is small and
 * bounded (a state's cache is freed with the state), and small blocks
 * go straight to malloc.
 *
 * Invariant: a block whose size (as Lua knows it) is at least
 * BIG_BLOCK holds at least round_size (size) bytes; any other block is
 * an ordinary malloc block of at least its size.  Every block is an
 * ordinary malloc block, so free works on all of them.
 *
 * A state is only used under its interpreter's lock (or before it is
 * shared), so the cache needs no lock of its own.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luap.h"

#define BIG_BLOCK    ((size_t) 64 * 1024)     /* cache blocks this big */
#define CACHE_SLOTS  16
#define CACHE_BYTES  ((size_t) 64 * 1024 * 1024) /* cache at most this */

struct luap_alloc {
  char warning[1024];           /* a warning being put together */
  size_t bytes;                 /* total size of the cached blocks */
  unsigned n;
  struct {
    void *ptr;
    size_t size;
  } slot[CACHE_SLOTS];
};

static size_t
round_size (size_t n)
{
  return (n + 4095) & ~(size_t) 4095;
}

/* A block for a Lua object of n >= BIG_BLOCK bytes. */
static void *
take (struct luap_alloc *a, size_t n)
{
  size_t r = round_size (n);
  unsigned i;

  if (r < n)                    /* overflow */
    return NULL;
  for (i = 0; i < a->n; ++i) {
    if (a->slot[i].size == r) {
      void *p = a->slot[i].ptr;

      a->bytes -= r;
      a->slot[i] = a->slot[--a->n];
      return p;
    }
  }
  return malloc (r);
}

/* Free a block holding a Lua object of size bytes. */
static void
release (struct luap_alloc *a, void *ptr, size_t size)
{
  if (ptr == NULL)
    return;
  if (size >= BIG_BLOCK) {
    size_t r = round_size (size);

    if (a->n < CACHE_SLOTS && a->bytes + r <= CACHE_BYTES) {
      a->slot[a->n].ptr = ptr;
      a->slot[a->n].size = r;
      a->n++;
      a->bytes += r;
      return;
    }
  }
  free (ptr);
}

/* The lua_Alloc function.  When ptr is NULL, osize is not a size but
 * the type of object being created.
 */
static void *
luap_alloc_fn (void *ud, void *ptr, size_t osize, size_t nsize)
{
  struct luap_alloc *a = ud;
  void *p;

  if (ptr == NULL)
    osize = 0;
  if (nsize == 0) {
    release (a, ptr, osize);
    return NULL;
  }
  if (ptr == NULL)
    return nsize >= BIG_BLOCK ? take (a, nsize) : malloc (nsize);
  if (osize < BIG_BLOCK && nsize < BIG_BLOCK)
    return realloc (ptr, nsize);
  if (osize >= BIG_BLOCK && nsize >= BIG_BLOCK &&
      round_size (osize) == round_size (nsize))
    return ptr;                 /* already big enough */

  /* Moving across the cache's size classes. */
  p = nsize >= BIG_BLOCK ? take (a, nsize) : malloc (nsize);
  if (p == NULL)
    /* Shrinking can always keep the old block (which, from here on,
     * holds more than Lua thinks: the invariant still holds).
     */
    return nsize <= osize ? ptr : NULL;
  memcpy (p, ptr, osize < nsize ? osize : nsize);
  release (a, ptr, osize);
  return p;
}

/* Lua panics if an error happens outside any protected call.  We
 * make none, but just in case, say something before the abort.
 */
static int
luap_panic (lua_State *L)
{
  const char *msg = lua_tostring (L, -1);

  nbdkit_error ("lua: unprotected error: %s", msg ? msg : "(not a string)");
  abort ();
}

/* Lua's warn() sends its messages here: to the debug log.  Messages
 * may come in pieces; "@on" and "@off" control messages are ignored.
 */
static void
luap_warn (void *ud, const char *msg, int tocont)
{
  struct luap_alloc *a = ud;
  size_t len = strlen (a->warning);

  if (len == 0 && !tocont && msg[0] == '@')
    return;
  snprintf (a->warning + len, sizeof a->warning - len, "%s", msg);
  if (!tocont) {
    nbdkit_debug ("lua warning: %s", a->warning);
    a->warning[0] = '\0';
  }
}

/* A new state using this allocator, or NULL. */
lua_State *
luap_newstate (void)
{
  struct luap_alloc *a = calloc (1, sizeof *a);
  lua_State *L;

  if (a == NULL)
    return NULL;
  L = lua_newstate (luap_alloc_fn, a);
  if (L == NULL) {
    free (a);
    return NULL;
  }
  lua_atpanic (L, luap_panic);
  lua_setwarnf (L, luap_warn, a);
  return L;
}

/* lua_close, then free the allocator's cache. */
void
luap_closestate (lua_State *L)
{
  void *ud;
  struct luap_alloc *a;
  unsigned i;

  if (L == NULL)
    return;
  lua_getallocf (L, &ud);
  lua_close (L);
  a = ud;
  for (i = 0; i < a->n; ++i)
    free (a->slot[i].ptr);
  free (a);
}
