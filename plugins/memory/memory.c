/* memory.c: the memory plugin, a RAM disk.
 *
 * Part of a clean-room implementation of nbdkit.
 *
 *   nbdkit memory [size=]SIZE [allocator=sparse|malloc[,mlock=true]]
 *
 * Every client sees the same disk, which starts out all zeroes and is
 * lost when the server exits.  This file handles the command line and
 * maps the NBD operations onto an allocator (allocator.h): the default
 * sparse radix tree (sparse.c) or a flat preallocated mapping (flat.c).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static int64_t size = -1;
static const struct allocator_ops *allocator = &sparse_allocator;
static bool use_mlock;
static void *store;

/* Parse "NAME[,KEY=VALUE...]".  Only malloc takes a parameter. */
static int
parse_allocator (const char *value)
{
  char *copy, *name, *param, *saveptr = NULL;
  int ret = -1;

  copy = strdup (value);
  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }

  name = strtok_r (copy, ",", &saveptr);
  if (name == NULL) {
    nbdkit_error ("allocator: missing allocator name");
    goto out;
  }
  if (strcmp (name, "sparse") == 0)
    allocator = &sparse_allocator;
  else if (strcmp (name, "malloc") == 0)
    allocator = &flat_allocator;
  else if (strcmp (name, "zstd") == 0) {
    nbdkit_error ("allocator=zstd is not supported by this memory plugin "
                  "(use allocator=sparse or allocator=malloc)");
    goto out;
  }
  else {
    nbdkit_error ("unknown allocator '%s' "
                  "(expecting sparse, or malloc[,mlock=true])", name);
    goto out;
  }

  use_mlock = false;
  while ((param = strtok_r (NULL, ",", &saveptr)) != NULL) {
    if (allocator == &flat_allocator && strncmp (param, "mlock=", 6) == 0) {
      int b = nbdkit_parse_bool (param + 6);
      if (b == -1)
        goto out;
      use_mlock = b;
    }
    else {
      nbdkit_error ("allocator=%s: unknown parameter '%s'", name, param);
      goto out;
    }
  }
  ret = 0;

 out:
  free (copy);
  return ret;
}

static int
memory_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    if (size == -1)
      return -1;
    return 0;
  }
  if (strcmp (key, "allocator") == 0)
    return parse_allocator (value);

  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

static int
memory_config_complete (void)
{
  if (size == -1) {
    nbdkit_error ("you must specify size=<SIZE> on the command line");
    return -1;
  }
  return 0;
}

#define memory_config_help \
  "size=<SIZE>  (required) Size of the backing disk\n" \
  "allocator=sparse|malloc[,mlock=true]\n" \
  "                        Backend allocation strategy (default sparse)"

static void
memory_dump_plugin (void)
{
  printf ("mlock=yes\n");
}

/* The store is created once the command line is known, just before
 * the server starts accepting clients.
 */
static int
memory_get_ready (void)
{
  store = allocator->create ((uint64_t) size, use_mlock);
  if (store == NULL)
    return -1;
  return 0;
}

static int
memory_after_fork (void)
{
  if (allocator->after_fork != NULL)
    return allocator->after_fork (store);
  return 0;
}

static void
memory_unload (void)
{
  if (store != NULL)
    allocator->destroy (store);
  store = NULL;
}

static void *
memory_open (int readonly)
{
  /* All connections share the one store: no per-connection state. */
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
memory_get_size (void *handle)
{
  return size;
}

/* Any number of connections see a consistent disk. */
static int
memory_can_multi_conn (void *handle)
{
  return 1;
}

/* Data is in RAM: there is nothing to flush, so FUA is a no-op too. */
static int
memory_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
memory_can_fast_zero (void *handle)
{
  return 1;
}

static int
memory_can_extents (void *handle)
{
  return allocator->extents != NULL;
}

static int
memory_can_cache (void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

/* The allocators call nbdkit_error and leave errno set on failure. */
static int
fail (void)
{
  nbdkit_set_error (errno ? errno : EIO);
  return -1;
}

static int
memory_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  if (allocator->read (store, buf, count, offset) == -1)
    return fail ();
  return 0;
}

static int
memory_pwrite (void *handle, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags)
{
  if (allocator->write (store, buf, count, offset) == -1)
    return fail ();
  return 0;
}

static int
memory_flush (void *handle, uint32_t flags)
{
  return 0;
}

static int
memory_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  if (allocator->zero (store, count, offset, true) == -1)
    return fail ();
  return 0;
}

/* Zeroing is always fast (it never allocates), so FAST_ZERO needs no
 * special case.  Without MAY_TRIM, allocated pages stay allocated.
 */
static int
memory_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  bool may_free = (flags & NBDKIT_FLAG_MAY_TRIM) != 0;

  if (allocator->zero (store, count, offset, may_free) == -1)
    return fail ();
  return 0;
}

static int
memory_extents (void *handle, uint32_t count, uint64_t offset,
                uint32_t flags, struct nbdkit_extents *extents)
{
  bool req_one = (flags & NBDKIT_FLAG_REQ_ONE) != 0;

  if (allocator->extents (store, count, offset, req_one, extents) == -1)
    return fail ();
  return 0;
}

/* The data is already in RAM. */
static int
memory_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  if (flags != 0) {
    nbdkit_error ("cache: unknown flags 0x%x", flags);
    nbdkit_set_error (EINVAL);
    return -1;
  }
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = "memory",
  .longname          = "nbdkit memory plugin",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "A RAM disk, optionally sparse",
  .magic_config_key  = "size",
  .config            = memory_config,
  .config_complete   = memory_config_complete,
  .config_help       = memory_config_help,
  .dump_plugin       = memory_dump_plugin,
  .get_ready         = memory_get_ready,
  .after_fork        = memory_after_fork,
  .unload            = memory_unload,
  .open              = memory_open,
  .get_size          = memory_get_size,
  .can_multi_conn    = memory_can_multi_conn,
  .can_fua           = memory_can_fua,
  .can_fast_zero     = memory_can_fast_zero,
  .can_extents       = memory_can_extents,
  .can_cache         = memory_can_cache,
  .pread             = memory_pread,
  .pwrite            = memory_pwrite,
  .flush             = memory_flush,
  .trim              = memory_trim,
  .zero              = memory_zero,
  .extents           = memory_extents,
  .cache             = memory_cache,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
