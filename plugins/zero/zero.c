/* zero.c: the zero plugin, an empty disk.
 *
 * Part of a clean-room implementation of nbdkit.
 *
 *   nbdkit zero
 *
 * Serves a read-only disk of size 0.  It takes no parameters.  This
 * plugin is kept for compatibility: "nbdkit null" does the same and
 * more.
 */

#include <stdint.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static void *
zero_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
zero_get_size (void *handle)
{
  return 0;
}

static int
zero_can_multi_conn (void *handle)
{
  return 1;
}

static int
zero_can_cache (void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

/* The server never sends a read to a zero-length disk, but a plugin
 * must have a pread callback; be correct anyway.
 */
static int
zero_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  memset (buf, 0, count);
  return 0;
}

static int
zero_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

/* No .pwrite, so the server serves the disk read-only, and no .config,
 * so the server rejects any parameter.
 */
static struct nbdkit_plugin plugin = {
  .name              = "zero",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "An empty (zero length) read-only disk",
  .open              = zero_open,
  .get_size          = zero_get_size,
  .can_multi_conn    = zero_can_multi_conn,
  .can_cache         = zero_can_cache,
  .pread             = zero_pread,
  .cache             = zero_cache,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
