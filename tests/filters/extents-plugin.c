/* extents-plugin.c: a read-only 64 KiB disk whose 512-byte sectors are
 * data or holes in a fixed pattern, for the context and extents tests.
 * In each 32-sector (16 KiB) period, sector 0 and the even sectors from
 * 16 up are data ('D' bytes); every other sector is a hole of zeroes.
 * So a 4 KiB block is: mixed (0-7), all hole (8-15), mixed (16-31).
 */

#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#define SIZE (64 * 1024)

static int
is_data (uint64_t sector)
{
  unsigned s = sector % 32;

  return s == 0 || (s >= 16 && s % 2 == 0);
}

static void *
ep_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
ep_get_size (void *h)
{
  return SIZE;
}

static int
ep_pread (void *h, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  char *p = buf;

  while (count > 0) {
    *p++ = is_data (offset / 512) ? 'D' : 0;
    offset++;
    count--;
  }
  return 0;
}

static int
ep_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents)
{
  uint64_t end = offset + count;
  uint64_t s;

  for (s = offset / 512; s * 512 < end; ++s) {
    uint64_t start = s * 512 < offset ? offset : s * 512;

    if (nbdkit_add_extent (extents, start, (s + 1) * 512 - start,
                           is_data (s) ? 0 : NBDKIT_EXTENT_HOLE |
                           NBDKIT_EXTENT_ZERO) == -1)
      return -1;
  }
  return 0;
}

/* Interned: its lifetime is the server's job (see the shared mode of
 * context-filter.c, where it must outlive the connection that asked).
 */
static const char *
ep_export_description (void *h)
{
  return nbdkit_printf_intern ("%d KiB of %s", SIZE / 1024, "extents");
}

static struct nbdkit_plugin plugin = {
  .name = "extents",
  .export_description = ep_export_description,
  .open = ep_open,
  .get_size = ep_get_size,
  .pread = ep_pread,
  .extents = ep_extents,
};

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
NBDKIT_REGISTER_PLUGIN (plugin)
