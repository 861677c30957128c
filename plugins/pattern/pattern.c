/* pattern.c: the pattern plugin, a read-only disk of known content.
 *
 * Part of a clean-room implementation of nbdkit.
 *
 *   nbdkit pattern [size=]SIZE
 *
 * The disk holds, in every 8-byte aligned word, the word's own byte
 * offset as a 64-bit big-endian number: bytes 0-7 are 0, bytes 8-15
 * are 8 (00 00 00 00 00 00 00 08), and so on.  Any range read from it
 * can be checked without keeping a copy.  If the size is not a multiple
 * of 8 the last word is cut short.
 */

#include <endian.h>
#include <stdint.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static int64_t size = -1;

static int
pattern_config (const char *key, const char *value)
{
  if (strcmp (key, "size") != 0) {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  size = nbdkit_parse_size (value);
  if (size == -1)
    return -1;
  return 0;
}

static int
pattern_config_complete (void)
{
  if (size == -1) {
    nbdkit_error ("you must specify size=<SIZE> on the command line");
    return -1;
  }
  return 0;
}

#define pattern_config_help \
  "[size=]<SIZE>  (required) Size of the disk."

static void *
pattern_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
pattern_get_size (void *handle)
{
  return size;
}

static int
pattern_can_multi_conn (void *handle)
{
  return 1;
}

static int
pattern_can_cache (void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

/* The pattern word covering byte offset OFFSET (which is aligned). */
static inline void
put_word (char *p, uint64_t offset)
{
  uint64_t word = htobe64 (offset);

  memcpy (p, &word, 8);
}

static int
pattern_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  char *p = buf;
  char word[8];
  uint32_t skip, n;

  /* A partial word at the start. */
  skip = offset & 7;
  if (skip != 0) {
    put_word (word, offset - skip);
    n = 8 - skip < count ? 8 - skip : count;
    memcpy (p, word + skip, n);
    p += n;
    offset += n;
    count -= n;
  }

  /* Whole words. */
  while (count >= 8) {
    put_word (p, offset);
    p += 8;
    offset += 8;
    count -= 8;
  }

  /* A partial word at the end. */
  if (count > 0) {
    put_word (word, offset);
    memcpy (p, word, count);
  }
  return 0;
}

/* Nothing to prefetch: the data is computed. */
static int
pattern_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

/* No .pwrite: the server serves the disk read-only. */
static struct nbdkit_plugin plugin = {
  .name              = "pattern",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "A read-only disk where each 8-byte word holds "
                       "its own offset",
  .magic_config_key  = "size",
  .config            = pattern_config,
  .config_complete   = pattern_config_complete,
  .config_help       = pattern_config_help,
  .open              = pattern_open,
  .get_size          = pattern_get_size,
  .can_multi_conn    = pattern_can_multi_conn,
  .can_cache         = pattern_can_cache,
  .pread             = pattern_pread,
  .cache             = pattern_cache,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
