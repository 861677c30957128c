/* allocator.h: storage back ends of the memory plugin.
 *
 * Part of a clean-room implementation of nbdkit.
 *
 * The plugin (memory.c) only parses the command line and forwards the
 * data callbacks to one of these back ends.  Every back end is safe to
 * call from many threads at once (the plugin runs in the PARALLEL
 * thread model) and reports failures with nbdkit_error and errno.
 */

#ifndef NBDKIT_MEMORY_ALLOCATOR_H
#define NBDKIT_MEMORY_ALLOCATOR_H

#include <stdbool.h>
#include <stdint.h>

struct nbdkit_extents;

struct allocator_ops {
  const char *name;

  /* Create an all-zero store of SIZE bytes.  Returns NULL on error. */
  void *(*create) (uint64_t size, bool use_mlock);
  void (*destroy) (void *store);

  /* Called after the server has forked into the background (or would
   * have).  Memory locks are not inherited by fork, so this is where
   * they must be taken.  May be NULL.
   */
  int (*after_fork) (void *store);

  int (*read) (void *store, void *buf, uint32_t count, uint64_t offset);
  int (*write) (void *store, const void *buf, uint32_t count,
                uint64_t offset);

  /* Make the range read as zeroes.  If MAY_FREE is true the store may
   * (and should) give the memory back; otherwise the range stays
   * allocated if it was allocated before.
   */
  int (*zero) (void *store, uint32_t count, uint64_t offset, bool may_free);

  /* NULL if the back end cannot tell holes from data. */
  int (*extents) (void *store, uint32_t count, uint64_t offset,
                  bool req_one, struct nbdkit_extents *extents);
};

/* sparse.c */
extern const struct allocator_ops sparse_allocator;

/* flat.c */
extern const struct allocator_ops flat_allocator;

#endif /* NBDKIT_MEMORY_ALLOCATOR_H */
