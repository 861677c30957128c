/* example.c: a minimal nbdkit plugin to copy and start from.
 *
 * Part of a clean-room implementation of nbdkit.  This file is meant
 * to be read: see nbdkit-example-plugin(1) for how to build it outside
 * the nbdkit source tree, and nbdkit-plugin(3) for every callback.
 *
 * It serves a RAM disk (all zeroes at first, shared by every client,
 * lost when nbdkit exits):
 *
 *   nbdkit ./nbdkit-example-plugin.so size=1M
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Version 2 of the plugin API: the data callbacks take a flags
 * argument.  Always define this before including the header.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

/* How many requests nbdkit may run at the same time.  With this model
 * only one callback runs at a time across all connections, so the code
 * below needs no locks.  (Plain memcpy is in fact safe in parallel, so
 * NBDKIT_THREAD_MODEL_PARALLEL would work too; choose it only once you
 * have thought about every shared variable.)
 */
#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS

static char *disk;                      /* the data, allocated once */
static int64_t size = 1024 * 1024;      /* default size: 1 MiB */

/* Called once for each key=value on the command line.  Return -1 (after
 * nbdkit_error) to make nbdkit exit with an error.
 */
static int
example_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);   /* understands 1M, 2G, ... */
    if (size == -1)
      return -1;                        /* it reported the error */
    return 0;
  }
  nbdkit_error ("unknown parameter '%s'", key);
  return -1;
}

/* Called after the last config: check the settings, get ready. */
static int
example_config_complete (void)
{
  disk = calloc (1, size > 0 ? size : 1);
  if (disk == NULL) {
    nbdkit_error ("cannot allocate %" PRIi64 " bytes: %m", size);
    return -1;
  }
  return 0;
}

/* Called when nbdkit exits. */
static void
example_unload (void)
{
  free (disk);
}

/* Each connection gets a handle, which nbdkit passes back to all the
 * other callbacks.  Our disk is global, so the handle only remembers
 * something for the debug message in close.  Return NULL on error.
 */
struct handle {
  int readonly;
};

static void *
example_open (int readonly)
{
  struct handle *h = malloc (sizeof *h);

  if (h == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  h->readonly = readonly;
  return h;
}

static void
example_close (void *handle)
{
  struct handle *h = handle;

  nbdkit_debug ("closing a %s connection",
                h->readonly ? "read-only" : "read-write");
  free (h);
}

static int64_t
example_get_size (void *handle)
{
  return size;
}

/* nbdkit has already checked that [offset, offset+count) is inside the
 * disk.  Read or write all of it, or fail with -1 and nbdkit_error.
 */
static int
example_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  memcpy (buf, disk + offset, count);
  return 0;
}

/* Without this callback the disk would be read-only. */
static int
example_pwrite (void *handle, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags)
{
  memcpy (disk + offset, buf, count);
  return 0;
}

/* Unset callbacks are NULL; nbdkit then uses sensible defaults. */
static struct nbdkit_plugin plugin = {
  .name            = "example",
  .version         = "1.0",
  .description     = "An example plugin: a small RAM disk",
  .config          = example_config,
  .config_complete = example_config_complete,
  .config_help     = "size=<SIZE>   Size of the disk (default 1M).",
  .unload          = example_unload,
  .open            = example_open,
  .close           = example_close,
  .get_size        = example_get_size,
  .pread           = example_pread,
  .pwrite          = example_pwrite,
};

/* Makes the plugin loadable: exactly once per plugin. */
NBDKIT_REGISTER_PLUGIN (plugin)
