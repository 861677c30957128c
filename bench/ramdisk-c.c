/* ramdisk-c.c: the Rust raw-API example plugins/rust/examples/ramdisk.rs,
 * written in C, for bench/bench-rust.sh.
 *
 * Same behaviour callback for callback: one calloc'd buffer shared by
 * all connections, memcpy for reads and writes with no locking, a
 * no-op flush, multi-conn, the parallel thread model, and extents that
 * report all-zero 4 KiB blocks as zero.  Any speed difference between
 * the two is therefore the cost of the Rust binding.
 *
 *   cc -O2 -fPIC -shared -I include -o ramdisk-c.so bench/ramdisk-c.c
 *   nbdkit ./ramdisk-c.so size=1G
 */

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define BLOCK 4096

static uint64_t size = 100 * 1024 * 1024;
static unsigned char *disk;

static int
ramdisk_config (const char *key, const char *value)
{
  int64_t r;

  if (strcmp (key, "size") != 0) {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  r = nbdkit_parse_size (value);
  if (r == -1)
    return -1;
  size = r;
  return 0;
}

static int
ramdisk_get_ready (void)
{
  disk = calloc (1, size);
  if (disk == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  return 0;
}

static void
ramdisk_unload (void)
{
  free (disk);
}

/* The handle is the disk itself. */
static void *
ramdisk_open (int readonly)
{
  return disk;
}

static void
ramdisk_close (void *handle)
{
}

static int64_t
ramdisk_get_size (void *handle)
{
  return size;
}

static int
ramdisk_can_multi_conn (void *handle)
{
  return 1;
}

static int
ramdisk_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  memcpy (buf, (unsigned char *) handle + offset, count);
  return 0;
}

static int
ramdisk_pwrite (void *handle, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags)
{
  memcpy ((unsigned char *) handle + offset, buf, count);
  return 0;
}

static int
ramdisk_flush (void *handle, uint32_t flags)
{
  return 0;
}

static int
ramdisk_can_extents (void *handle)
{
  return 1;
}

static bool
block_is_zero (const unsigned char *p, uint64_t len)
{
  uint64_t i;

  for (i = 0; i < len; ++i)
    if (p[i])
      return false;
  return true;
}

static int
ramdisk_extents (void *handle, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents)
{
  const unsigned char *d = handle;
  uint64_t end = offset + count < size ? offset + count : size;
  uint64_t run_start = offset - offset % BLOCK;
  uint64_t pos = run_start;
  int run_zero = -1;            /* -1: no run yet */

  while (pos < end) {
    uint64_t next = pos + BLOCK < size ? pos + BLOCK : size;
    int zero = block_is_zero (d + pos, next - pos);

    if (run_zero != -1 && run_zero != zero) {
      if (nbdkit_add_extent (extents, run_start, pos - run_start,
                             run_zero ? NBDKIT_EXTENT_ZERO : 0) == -1)
        return -1;
      if (flags & NBDKIT_FLAG_REQ_ONE)
        return 0;
      run_start = pos;
    }
    run_zero = zero;
    pos = next;
  }
  return nbdkit_add_extent (extents, run_start, pos - run_start,
                            run_zero == 1 ? NBDKIT_EXTENT_ZERO : 0);
}

static struct nbdkit_plugin plugin = {
  .name              = "ramdisk",
  .config            = ramdisk_config,
  .config_help       = "size=<SIZE>  Size of the RAM disk (default 100M).",
  .magic_config_key  = "size",
  .get_ready         = ramdisk_get_ready,
  .unload            = ramdisk_unload,
  .open              = ramdisk_open,
  .close             = ramdisk_close,
  .get_size          = ramdisk_get_size,
  .can_multi_conn    = ramdisk_can_multi_conn,
  .pread             = ramdisk_pread,
  .pwrite            = ramdisk_pwrite,
  .flush             = ramdisk_flush,
  .can_extents       = ramdisk_can_extents,
  .extents           = ramdisk_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
