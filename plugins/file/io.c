/* io.c: data path of the file plugin.
 *
 * Part of a clean-room implementation of nbdkit.
 *
 * Reads and writes loop over pread(2)/pwrite(2) until the whole request
 * is done.  Trim and zero use fallocate(2) (and the block device
 * ioctls), remembering per connection which methods the kernel refused
 * so that later requests do not retry them.  Extents come from
 * lseek(2) SEEK_DATA/SEEK_HOLE.
 *
 * errno_is_preserved is set, so on failure the callbacks return -1
 * with errno still holding the cause.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "file.h"

/* -D file.zero=1 logs how each zero request was carried out. */
NBDKIT_DLL_PUBLIC int file_debug_zero;

/* Report a failure of a system call (errno is the cause) and return
 * -1 with errno unchanged.
 */
static int
sys_error (const char *fs, ...)
{
  int err = errno;
  va_list args;

  va_start (args, fs);
  nbdkit_verror (fs, args);
  va_end (args);
  nbdkit_set_error (err);
  errno = err;
  return -1;
}

/* Errors meaning "this kernel / file system / device cannot do that". */
static bool
is_unsupported (int err)
{
  return err == EOPNOTSUPP || err == ENOSYS || err == ENODEV ||
    err == ENOTTY;
}

static inline bool
load (atomic_bool *b)
{
  return atomic_load_explicit (b, memory_order_relaxed);
}

static inline void
clear (atomic_bool *b)
{
  atomic_store_explicit (b, false, memory_order_relaxed);
}

/* cache=none: push the range out of the page cache after use. */
static void
evict (struct handle *h, uint64_t offset, uint32_t count, bool written)
{
  int r;

  if (written &&
      sync_file_range (h->fd, offset, count,
                       SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                       SYNC_FILE_RANGE_WAIT_AFTER) == -1)
    nbdkit_debug ("file: sync_file_range: %m");
  r = posix_fadvise (h->fd, offset, count, POSIX_FADV_DONTNEED);
  if (r != 0)
    nbdkit_debug ("file: posix_fadvise: %s", strerror (r));
}

int
file_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  struct handle *h = handle;
  char *p = buf;
  uint64_t pos = offset;
  uint32_t left = count;
  ssize_t r;

  while (left > 0) {
    r = pread (h->fd, p, left, pos);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return sys_error ("pread: offset %" PRIu64 ": %m", pos);
    }
    if (r == 0) {
      /* The file shrank under us. */
      errno = EIO;
      return sys_error ("pread: unexpected end of file at offset %" PRIu64,
                        pos);
    }
    p += r;
    pos += r;
    left -= r;
  }

  if (cache_mode == CACHE_NONE)
    evict (h, offset, count, false);
  return 0;
}

static int
sync_data (struct handle *h)
{
  if (fdatasync (h->fd) == -1)
    return sys_error ("fdatasync: %m");
  return 0;
}

int
file_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  struct handle *h = handle;
  const char *p = buf;
  uint64_t pos = offset;
  uint32_t left = count;
  ssize_t r;

  while (left > 0) {
    r = pwrite (h->fd, p, left, pos);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return sys_error ("pwrite: offset %" PRIu64 ": %m", pos);
    }
    if (r == 0) {
      errno = ENOSPC;
      return sys_error ("pwrite: no progress at offset %" PRIu64, pos);
    }
    p += r;
    pos += r;
    left -= r;
  }

  if ((flags & NBDKIT_FLAG_FUA) && sync_data (h) == -1)
    return -1;
  if (cache_mode == CACHE_NONE)
    evict (h, offset, count, true);
  return 0;
}

int
file_flush (void *handle, uint32_t flags)
{
  return sync_data (handle);
}

/* Block devices only take requests aligned to their sector size. */
static bool
aligned (struct handle *h, uint32_t count, uint64_t offset)
{
  return ((offset | count) & (h->sector_size - 1)) == 0;
}

/* fallocate on [offset, offset+count).  Returns 0 on success, 1 if
 * the method is not available (FLAG is cleared if it never will be),
 * or -1 on a real error (reported).
 */
static int
try_fallocate (struct handle *h, int mode, atomic_bool *flag,
               uint32_t count, uint64_t offset, const char *what)
{
  if (!load (flag))
    return 1;
  if (h->is_block_device && !aligned (h, count, offset))
    return 1;
  if (fallocate (h->fd, mode, offset, count) == 0)
    return 0;
  if (is_unsupported (errno)) {
    nbdkit_debug ("file: %s is not supported here: %m", what);
    clear (flag);
    return 1;
  }
  if (errno == EINVAL && h->is_block_device)
    return 1;
  return sys_error ("fallocate (%s): offset %" PRIu64 " count %" PRIu32
                    ": %m", what, offset, count);
}

/* A block device ioctl taking a [start, length] range. */
static int
try_block_ioctl (struct handle *h, unsigned long request, atomic_bool *flag,
                 uint32_t count, uint64_t offset, const char *what)
{
  uint64_t range[2] = { offset, count };

  if (!h->is_block_device || !load (flag) || !aligned (h, count, offset))
    return 1;
  if (ioctl (h->fd, request, range) == 0)
    return 0;
  if (is_unsupported (errno)) {
    nbdkit_debug ("file: %s is not supported here: %m", what);
    clear (flag);
    return 1;
  }
  if (errno == EINVAL)
    return 1;
  return sys_error ("ioctl (%s): offset %" PRIu64 " count %" PRIu32 ": %m",
                    what, offset, count);
}

/* Trim is a hint: if the kernel cannot deallocate, do nothing. */
int
file_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  int r;

  r = try_fallocate (h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     &h->can_punch_hole, count, offset, "PUNCH_HOLE");
  if (r == 1)
    r = try_block_ioctl (h, BLKDISCARD, &h->can_discard, count, offset,
                         "BLKDISCARD");
  if (r == -1)
    return -1;

  if ((flags & NBDKIT_FLAG_FUA) && sync_data (h) == -1)
    return -1;
  return 0;
}

/* Return -1 with EOPNOTSUPP: the server then writes zeroes with
 * pwrite, or (for a fast zero) tells the client it would be slow.
 */
static int
cannot_zero (uint32_t flags, const char *why)
{
  if (file_debug_zero)
    nbdkit_debug ("file: zero: %s: %s", why,
                  (flags & NBDKIT_FLAG_FAST_ZERO) ?
                  "failing the fast zero" : "falling back to writing zeroes");
  nbdkit_set_error (EOPNOTSUPP);
  errno = EOPNOTSUPP;
  return -1;
}

static int
zero_file (struct handle *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  int r;

  /* A hole reads as zeroes and frees space: best when allowed. */
  if (flags & NBDKIT_FLAG_MAY_TRIM) {
    r = try_fallocate (h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       &h->can_punch_hole, count, offset, "PUNCH_HOLE");
    if (r <= 0) {
      if (r == 0 && file_debug_zero)
        nbdkit_debug ("file: zero: punched a hole");
      return r;
    }
  }

  r = try_fallocate (h, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                     &h->can_zero_range, count, offset, "ZERO_RANGE");
  if (r <= 0) {
    if (r == 0 && file_debug_zero)
      nbdkit_debug ("file: zero: used ZERO_RANGE");
    return r;
  }

  /* No ZERO_RANGE (tmpfs, for one): punch a hole, then allocate it
   * again so that the range stays allocated, as without MAY_TRIM.
   */
  if (load (&h->can_fallocate)) {
    r = try_fallocate (h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       &h->can_punch_hole, count, offset, "PUNCH_HOLE");
    if (r == -1)
      return -1;
    if (r == 0) {
      /* The range already reads as zeroes: failing to allocate it now
       * only costs the NO_HOLE guarantee, so it is not an error.
       */
      r = try_fallocate (h, FALLOC_FL_KEEP_SIZE, &h->can_fallocate,
                         count, offset, "allocate");
      if (r != 0)
        nbdkit_debug ("file: zero: could not reallocate the punched range");
      if (file_debug_zero)
        nbdkit_debug ("file: zero: punched a hole and reallocated it");
      return 0;
    }
  }

  return cannot_zero (flags, "no fast method for this file");
}

static int
zero_block_device (struct handle *h, uint32_t count, uint64_t offset,
                   uint32_t flags)
{
  int r;

  /* On a block device, punching a hole either zeroes the range quickly
   * (unmapping it) or fails: the kernel never falls back to writing.
   */
  if (flags & NBDKIT_FLAG_MAY_TRIM) {
    r = try_fallocate (h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                       &h->can_punch_hole, count, offset, "PUNCH_HOLE");
    if (r <= 0) {
      if (r == 0 && file_debug_zero)
        nbdkit_debug ("file: zero: punched a hole in the block device");
      return r;
    }
  }

  /* ZERO_RANGE and BLKZEROOUT may quietly write zeroes, which is no
   * faster than the server doing it.
   */
  if (flags & NBDKIT_FLAG_FAST_ZERO)
    return cannot_zero (flags, "block device zeroing may be slow");

  r = try_fallocate (h, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                     &h->can_zero_range, count, offset, "ZERO_RANGE");
  if (r == 1)
    r = try_block_ioctl (h, BLKZEROOUT, &h->can_zeroout, count, offset,
                         "BLKZEROOUT");
  if (r <= 0) {
    if (r == 0 && file_debug_zero)
      nbdkit_debug ("file: zero: zeroed the block device range");
    return r;
  }

  return cannot_zero (flags, "no zeroing method for this block device");
}

int
file_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  int r;

  if (file_debug_zero)
    nbdkit_debug ("file: zero: count=%" PRIu32 " offset=%" PRIu64
                  " may_trim=%d fua=%d fast=%d", count, offset,
                  !!(flags & NBDKIT_FLAG_MAY_TRIM),
                  !!(flags & NBDKIT_FLAG_FUA),
                  !!(flags & NBDKIT_FLAG_FAST_ZERO));

  if (h->is_block_device)
    r = zero_block_device (h, count, offset, flags);
  else
    r = zero_file (h, count, offset, flags);
  if (r == -1)
    return -1;

  if ((flags & NBDKIT_FLAG_FUA) && sync_data (h) == -1)
    return -1;
  if (cache_mode == CACHE_NONE)
    evict (h, offset, count, true);
  return 0;
}

/* Regular files on a file system that knows about holes.  (Block
 * devices have no holes to report: the server then treats the whole
 * device as data.)
 */
int
file_can_extents (void *handle)
{
  struct handle *h = handle;

  if (h->is_block_device)
    return 0;
  /* ENXIO just means there is no data at or after offset 0. */
  if (lseek (h->fd, 0, SEEK_DATA) == -1 && errno != ENXIO) {
    nbdkit_debug ("file: SEEK_DATA is not supported: %m");
    return 0;
  }
  return 1;
}

static inline uint64_t
min_u64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

int
file_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents)
{
  struct handle *h = handle;
  const uint32_t hole = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;
  const bool req_one = flags & NBDKIT_FLAG_REQ_ONE;
  const uint64_t end = offset + count;
  uint64_t pos = offset;
  off_t data, next_hole;

  /* lseek moves the shared file offset, but pread/pwrite ignore it and
   * each lseek returns its own answer, so this is thread safe.
   */
  while (pos < end) {
    data = lseek (h->fd, pos, SEEK_DATA);
    if (data == -1) {
      if (errno != ENXIO)
        return sys_error ("lseek (SEEK_DATA): offset %" PRIu64 ": %m", pos);
      /* Only holes from here to the end of the file. */
      return nbdkit_add_extent (extents, pos, end - pos, hole);
    }
    if ((uint64_t) data > pos) {
      if (nbdkit_add_extent (extents, pos, min_u64 (data, end) - pos,
                             hole) == -1)
        return -1;
      pos = data;
    }
    else {
      next_hole = lseek (h->fd, pos, SEEK_HOLE);
      if (next_hole == -1) {
        if (errno != ENXIO)
          return sys_error ("lseek (SEEK_HOLE): offset %" PRIu64 ": %m", pos);
        next_hole = end;        /* the file shrank: stop here */
      }
      if ((uint64_t) next_hole <= pos)
        next_hole = end;
      if (nbdkit_add_extent (extents, pos, min_u64 (next_hole, end) - pos,
                             0) == -1)
        return -1;
      pos = next_hole;
    }
    if (req_one)
      break;
  }
  return 0;
}

/* Ask the kernel to read the range into the page cache. */
int
file_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  int r;

  if (flags != 0) {
    nbdkit_error ("cache: unknown flags 0x%" PRIx32, flags);
    nbdkit_set_error (EINVAL);
    errno = EINVAL;
    return -1;
  }
  r = posix_fadvise (h->fd, offset, count, POSIX_FADV_WILLNEED);
  if (r != 0) {
    errno = r;
    return sys_error ("posix_fadvise: %m");
  }
  return 0;
}
