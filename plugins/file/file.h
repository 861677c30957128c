/* file.h: shared declarations of the file plugin.
 *
 * Part of a clean-room implementation of nbdkit.
 *
 * file.c parses the command line, lists and opens exports; io.c is the
 * data path.
 */

#ifndef NBDKIT_FILE_H
#define NBDKIT_FILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct nbdkit_extents;

enum cache_mode {
  CACHE_DEFAULT,                /* leave the page cache alone */
  CACHE_NONE,                   /* evict what each request touched */
};

/* One per connection. */
struct handle {
  int fd;
  bool is_block_device;
  bool can_write;               /* false with -r, or if opened read-only */
  uint32_t sector_size;         /* block devices: logical block size */

  /* What the kernel turned out to support for this file.  They start
   * true and are cleared by the first request that finds out otherwise,
   * so later requests go straight to the method that works.  Requests
   * run in parallel, hence atomics.
   */
  atomic_bool can_punch_hole;   /* fallocate (PUNCH_HOLE) */
  atomic_bool can_zero_range;   /* fallocate (ZERO_RANGE) */
  atomic_bool can_fallocate;    /* fallocate (0): allocate blocks */
  atomic_bool can_zeroout;      /* ioctl (BLKZEROOUT), block devices */
  atomic_bool can_discard;      /* ioctl (BLKDISCARD), block devices */
};

/* file.c */
extern enum cache_mode cache_mode;

/* io.c */
extern int file_pread (void *handle, void *buf, uint32_t count,
                       uint64_t offset, uint32_t flags);
extern int file_pwrite (void *handle, const void *buf, uint32_t count,
                        uint64_t offset, uint32_t flags);
extern int file_flush (void *handle, uint32_t flags);
extern int file_trim (void *handle, uint32_t count, uint64_t offset,
                      uint32_t flags);
extern int file_zero (void *handle, uint32_t count, uint64_t offset,
                      uint32_t flags);
extern int file_can_extents (void *handle);
extern int file_extents (void *handle, uint32_t count, uint64_t offset,
                         uint32_t flags, struct nbdkit_extents *extents);
extern int file_cache (void *handle, uint32_t count, uint64_t offset,
                       uint32_t flags);

#endif /* NBDKIT_FILE_H */
