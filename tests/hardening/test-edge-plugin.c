/* test-edge-plugin.c: a read-only plugin for the hardening tests.
 *
 * Every 8-byte word of the disk holds its own offset (big-endian), so a
 * reader can check any data it gets.  The extents and the speed of
 * reads are chosen on the command line:
 *
 *   size=SIZE          disk size (default 8G); no memory is used
 *   extents=LEN:TYPE,...
 *                      the disk starts with these runs, in order; TYPE is
 *                      data, hole, zero or hole+zero; the rest of the
 *                      disk is data
 *   alternate=LEN      instead: runs of LEN bytes, data and hole in turn,
 *                      and every call describes every run from the one
 *                      at the offset asked for to the end of the disk (a
 *                      plugin that answers far more than was asked)
 *   slow=OFFSET        a read covering OFFSET does not finish until the
 *                      file named by release= exists (repeatable; 60 s
 *                      at most, as a guard against hanging forever)
 *   release=FILE
 *   started=FILE       created when a slow read starts
 *   fail=OFFSET        reads that reach OFFSET or beyond fail with EIO,
 *                      after writing to every page of the buffer (as a
 *                      plugin that fails part-way through a read does)
 *   thread_model=serialize_requests|parallel  (default parallel)
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <endian.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define MAX_RUNS 64
#define MAX_SLOW 16

static int64_t size = INT64_C (8) << 30;
static struct { uint64_t len; uint32_t type; } runs[MAX_RUNS];
static size_t nr_runs;
static int64_t alternate;
static uint64_t slow[MAX_SLOW];
static size_t nr_slow;
static const char *release_file, *started_file;
static int64_t fail_from = -1;
static int model = NBDKIT_THREAD_MODEL_PARALLEL;

static int
parse_runs (const char *value)
{
  char *copy = strdup (value), *save = NULL, *tok;

  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  for (tok = strtok_r (copy, ",", &save); tok;
       tok = strtok_r (NULL, ",", &save)) {
    char *colon = strchr (tok, ':');
    int64_t len;
    uint32_t type;

    if (colon == NULL || nr_runs == MAX_RUNS)
      goto bad;
    *colon = '\0';
    len = nbdkit_parse_size (tok);
    if (len <= 0)
      goto bad;
    if (strcmp (colon + 1, "data") == 0)
      type = 0;
    else if (strcmp (colon + 1, "hole") == 0)
      type = NBDKIT_EXTENT_HOLE;
    else if (strcmp (colon + 1, "zero") == 0)
      type = NBDKIT_EXTENT_ZERO;
    else if (strcmp (colon + 1, "hole+zero") == 0)
      type = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;
    else
      goto bad;
    runs[nr_runs].len = len;
    runs[nr_runs].type = type;
    nr_runs++;
  }
  free (copy);
  return 0;

 bad:
  nbdkit_error ("extents: cannot parse '%s'", value);
  free (copy);
  return -1;
}

static int
edge_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0)
    return (size = nbdkit_parse_size (value)) == -1 ? -1 : 0;
  if (strcmp (key, "extents") == 0)
    return parse_runs (value);
  if (strcmp (key, "alternate") == 0)
    return (alternate = nbdkit_parse_size (value)) <= 0 ? -1 : 0;
  if (strcmp (key, "slow") == 0) {
    int64_t off = nbdkit_parse_size (value);

    if (off < 0 || nr_slow == MAX_SLOW)
      return -1;
    slow[nr_slow++] = off;
    return 0;
  }
  if (strcmp (key, "fail") == 0)
    return (fail_from = nbdkit_parse_size (value)) == -1 ? -1 : 0;
  if (strcmp (key, "release") == 0) {
    release_file = value;
    return 0;
  }
  if (strcmp (key, "started") == 0) {
    started_file = value;
    return 0;
  }
  if (strcmp (key, "thread_model") == 0) {
    if (strcmp (value, "parallel") == 0)
      model = NBDKIT_THREAD_MODEL_PARALLEL;
    else if (strcmp (value, "serialize_requests") == 0)
      model = NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS;
    else {
      nbdkit_error ("unknown thread model %s", value);
      return -1;
    }
    return 0;
  }
  nbdkit_error ("unknown parameter %s", key);
  return -1;
}

static int
edge_thread_model (void)
{
  return model;
}

static void *
edge_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
edge_get_size (void *handle)
{
  return size;
}

static int
edge_can_extents (void *handle)
{
  return 1;
}

static int
edge_can_multi_conn (void *handle)
{
  return 1;
}

static bool
exists (const char *path)
{
  return path && access (path, F_OK) == 0;
}

static int
edge_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  unsigned char *p = buf;
  uint64_t i;
  size_t s;

  if (fail_from >= 0 && offset + count > (uint64_t) fail_from) {
    for (i = 0; i < count; i += 4096)
      p[i] = 0x5a;
    nbdkit_set_error (EIO);
    return -1;
  }

  for (s = 0; s < nr_slow; ++s) {
    if (slow[s] >= offset && slow[s] < offset + count) {
      int ms;

      if (started_file) {
        FILE *fp = fopen (started_file, "a");

        if (fp) {
          fprintf (fp, "slow %" PRIu64 "\n", offset);
          fclose (fp);
        }
      }
      for (ms = 0; ms < 60000 && !exists (release_file); ms += 5)
        usleep (5000);
    }
  }

  for (i = 0; i < count; ++i) {
    uint64_t pos = offset + i;
    uint64_t word = htobe64 (pos & ~UINT64_C (7));

    p[i] = ((unsigned char *) &word)[pos & 7];
  }
  return 0;
}

static int
edge_extents (void *handle, uint32_t count, uint64_t offset,
              uint32_t flags, struct nbdkit_extents *extents)
{
  uint64_t pos = 0;
  size_t i;

  if (alternate > 0) {
    for (pos = offset - offset % alternate; pos < (uint64_t) size;
         pos += alternate) {
      uint32_t type = (pos / alternate) & 1 ? NBDKIT_EXTENT_HOLE : 0;
      uint64_t len = MIN ((uint64_t) alternate, size - pos);

      if (nbdkit_add_extent (extents, pos, len, type) == -1)
        return -1;
    }
    return 0;
  }

  for (i = 0; i < nr_runs && pos < (uint64_t) size; ++i) {
    uint64_t len = MIN (runs[i].len, size - pos);

    if (nbdkit_add_extent (extents, pos, len, runs[i].type) == -1)
      return -1;
    pos += len;
  }
  if (pos < (uint64_t) size &&
      nbdkit_add_extent (extents, pos, size - pos, 0) == -1)
    return -1;
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "edge",
  .config = edge_config,
  .thread_model = edge_thread_model,
  .open = edge_open,
  .get_size = edge_get_size,
  .can_extents = edge_can_extents,
  .can_multi_conn = edge_can_multi_conn,
  .pread = edge_pread,
  .extents = edge_extents,
};

NBDKIT_REGISTER_PLUGIN (plugin)
