/* filter-utils.h: small helpers shared by the filters in this tree.
 *
 * Header-only, so every filter stays one self-contained .so.
 */

#ifndef NBDKIT_FILTER_UTILS_H
#define NBDKIT_FILTER_UTILS_H

#include <stdbool.h>
#include <stdint.h>

#include <nbdkit-filter.h>

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

static inline bool
is_power_of_2 (uint64_t v)
{
  return v != 0 && (v & (v - 1)) == 0;
}

/* align must be a power of 2. */
static inline bool
is_aligned (uint64_t v, uint64_t align)
{
  return (v & (align - 1)) == 0;
}

static inline uint64_t
round_down (uint64_t v, uint64_t align)
{
  return v & ~(align - 1);
}

/* Callers make sure v + align - 1 does not overflow. */
static inline uint64_t
round_up (uint64_t v, uint64_t align)
{
  return (v + align - 1) & ~(align - 1);
}

static inline void
filter_cleanup_free (void *ptr)
{
  free (*(void **) ptr);
}
#define FILTER_CLEANUP_FREE __attribute__ ((cleanup (filter_cleanup_free)))

static inline void
filter_cleanup_extents (struct nbdkit_extents **ptr)
{
  if (*ptr)
    nbdkit_extents_free (*ptr);
}
#define FILTER_CLEANUP_EXTENTS \
  __attribute__ ((cleanup (filter_cleanup_extents)))

#endif /* NBDKIT_FILTER_UTILS_H */
