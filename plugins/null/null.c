/* null.c: the null plugin, a bit bucket.
 *
 * Part of a clean-room implementation of nbdkit.
 *
 *   nbdkit null [[size=]SIZE]
 *
 * Writes are thrown away and reads return zeroes.  Every operation is
 * supported and succeeds at once, which makes this plugin useful for
 * measuring the overhead of the server and of filters, and for
 * checking that a filter is installed.
 */

#include <stdint.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* The size is optional: without it the disk is empty. */
static int64_t size = 0;

static int
null_config (const char *key, const char *value)
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

#define null_config_help \
  "[size=]<SIZE>         Size of the disk (default 0)."

static void *
null_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
null_get_size (void *handle)
{
  return size;
}

/* Nothing is stored, so every connection trivially sees the same. */
static int
null_can_multi_conn (void *handle)
{
  return 1;
}

static int
null_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
null_can_fast_zero (void *handle)
{
  return 1;
}

static int
null_can_cache (void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

static int
null_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  memset (buf, 0, count);
  return 0;
}

static int
null_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  return 0;
}

static int
null_flush (void *handle, uint32_t flags)
{
  return 0;
}

static int
null_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static int
null_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

/* The whole range is a hole that reads as zeroes. */
static int
null_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents)
{
  return nbdkit_add_extent (extents, offset, count,
                            NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO);
}

static int
null_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = "null",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "Discards writes, reads back zeroes",
  .magic_config_key  = "size",
  .config            = null_config,
  .config_help       = null_config_help,
  .open              = null_open,
  .get_size          = null_get_size,
  .can_multi_conn    = null_can_multi_conn,
  .can_fua           = null_can_fua,
  .can_fast_zero     = null_can_fast_zero,
  .can_cache         = null_can_cache,
  .pread             = null_pread,
  .pwrite            = null_pwrite,
  .flush             = null_flush,
  .trim              = null_trim,
  .zero              = null_zero,
  .extents           = null_extents,
  .cache             = null_cache,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
