/* file.c: the file plugin: command line, exports, open and close.
 *
 * Part of a clean-room implementation of nbdkit.
 *
 *   nbdkit file [file=]FILENAME [cache=default|none]
 *               [fadvise=normal|random|sequential]
 *   nbdkit file dir=DIRECTORY [...]
 *
 * Serves a file or block device, or (with dir=) the regular files and
 * block devices in a directory, chosen by export name.  The data path
 * is in io.c.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "file.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static char *filename;          /* file= (absolute), or NULL */
static char *directory;         /* dir= (absolute), or NULL */
enum cache_mode cache_mode = CACHE_DEFAULT;
static int fadvise_advice = POSIX_FADV_NORMAL;

static void
file_unload (void)
{
  free (filename);
  free (directory);
}

static int
file_config (const char *key, const char *value)
{
  if (strcmp (key, "file") == 0 || strcmp (key, "dir") == 0) {
    /* Absolute, because the server may chdir ("/") when it forks. */
    char **dest = strcmp (key, "file") == 0 ? &filename : &directory;
    char *path = nbdkit_realpath (value);

    if (path == NULL)
      return -1;
    free (*dest);
    *dest = path;
  }
  else if (strcmp (key, "cache") == 0) {
    if (strcmp (value, "default") == 0)
      cache_mode = CACHE_DEFAULT;
    else if (strcmp (value, "none") == 0)
      cache_mode = CACHE_NONE;
    else {
      nbdkit_error ("cache: expecting 'default' or 'none', not '%s'", value);
      return -1;
    }
  }
  else if (strcmp (key, "fadvise") == 0) {
    if (strcmp (value, "normal") == 0)
      fadvise_advice = POSIX_FADV_NORMAL;
    else if (strcmp (value, "random") == 0)
      fadvise_advice = POSIX_FADV_RANDOM;
    else if (strcmp (value, "sequential") == 0)
      fadvise_advice = POSIX_FADV_SEQUENTIAL;
    else {
      nbdkit_error ("fadvise: expecting 'normal', 'random' or 'sequential', "
                    "not '%s'", value);
      return -1;
    }
  }
  else if (strcmp (key, "rdelay") == 0 || strcmp (key, "wdelay") == 0) {
    nbdkit_error ("%s is no longer a file plugin parameter: "
                  "use --filter=delay %s=%s", key, key, value);
    return -1;
  }
  else {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

static int
file_config_complete (void)
{
  struct stat st;

  if (filename != NULL && directory != NULL) {
    nbdkit_error ("file= and dir= cannot be used together");
    return -1;
  }
  if (filename == NULL && directory == NULL) {
    nbdkit_error ("you must give either [file=]<FILENAME> or dir=<DIRECTORY>");
    return -1;
  }

  if (filename != NULL) {
    if (stat (filename, &st) == -1) {
      nbdkit_error ("%s: %m", filename);
      return -1;
    }
    if (S_ISDIR (st.st_mode)) {
      nbdkit_error ("%s is a directory: use dir=%s to serve the files in it",
                    filename, filename);
      return -1;
    }
  }
  else {
    if (stat (directory, &st) == -1) {
      nbdkit_error ("%s: %m", directory);
      return -1;
    }
    if (!S_ISDIR (st.st_mode)) {
      nbdkit_error ("dir=%s: not a directory", directory);
      return -1;
    }
  }
  return 0;
}

#define file_config_help \
  "[file=]<FILENAME>     The file or block device to serve.\n" \
  "dir=<DIRNAME>         Serve the files in this directory, by export name.\n" \
  "cache=default|none    Whether to leave data in the page cache.\n" \
  "fadvise=normal|random|sequential\n" \
  "                      Access pattern hint for the kernel."

static void
file_dump_plugin (void)
{
  printf ("file_blksszget=yes\n");
  printf ("file_blkzeroout=yes\n");
  printf ("file_blkdiscard=yes\n");
  printf ("file_falloc_fl_punch_hole=yes\n");
  printf ("file_falloc_fl_zero_range=yes\n");
  printf ("file_seek_data=yes\n");
}

static bool
is_servable (const struct stat *st)
{
  return S_ISREG (st->st_mode) || S_ISBLK (st->st_mode);
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* dir= mode: every regular file and block device in the directory
 * (following symlinks) is an export, listed in name order.
 */
static int
list_directory (struct nbdkit_exports *exports)
{
  DIR *dir;
  struct dirent *d;
  struct stat st;
  char **names = NULL, **bigger;
  size_t n = 0, cap = 0, i;
  int ret = -1;

  dir = opendir (directory);
  if (dir == NULL) {
    nbdkit_error ("opendir: %s: %m", directory);
    return -1;
  }

  for (;;) {
    errno = 0;
    d = readdir (dir);
    if (d == NULL) {
      if (errno != 0) {
        nbdkit_error ("readdir: %s: %m", directory);
        goto out;
      }
      break;
    }
    /* Entries that vanished or that we cannot stat are left out. */
    if (fstatat (dirfd (dir), d->d_name, &st, 0) == -1 || !is_servable (&st))
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      bigger = realloc (names, cap * sizeof *names);
      if (bigger == NULL) {
        nbdkit_error ("realloc: %m");
        goto out;
      }
      names = bigger;
    }
    names[n] = strdup (d->d_name);
    if (names[n] == NULL) {
      nbdkit_error ("strdup: %m");
      goto out;
    }
    n++;
  }

  if (n > 0)
    qsort (names, n, sizeof *names, compare_names);
  for (i = 0; i < n; ++i)
    if (nbdkit_add_export (exports, names[i], NULL) == -1)
      goto out;
  ret = 0;

 out:
  for (i = 0; i < n; ++i)
    free (names[i]);
  free (names);
  closedir (dir);
  return ret;
}

static int
file_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  if (directory == NULL)
    return nbdkit_use_default_export (exports);
  return list_directory (exports);
}

/* dir= mode: an export name must name an entry directly inside the
 * directory.
 */
static bool
valid_export_name (const char *name)
{
  return name[0] != '\0' && strchr (name, '/') == NULL &&
    strcmp (name, ".") != 0 && strcmp (name, "..") != 0;
}

/* Find the path to open for this connection; *FREE_ME is set if the
 * result was allocated.
 */
static const char *
connection_path (char **free_me)
{
  const char *name;

  *free_me = NULL;
  if (directory == NULL)
    return filename;

  name = nbdkit_export_name ();
  if (name == NULL)
    return NULL;              /* the server has reported the error */
  if (!valid_export_name (name)) {
    if (name[0] == '\0')
      nbdkit_error ("no export name given: with dir= the client must choose "
                    "a file by export name (nbdinfo --list shows them)");
    else
      nbdkit_error ("invalid export name '%s': it must be the name of a file "
                    "in the directory", name);
    errno = EINVAL;
    return NULL;
  }
  if (asprintf (free_me, "%s/%s", directory, name) == -1) {
    nbdkit_error ("asprintf: %m");
    *free_me = NULL;
    return NULL;
  }
  return *free_me;
}

static uint32_t
logical_sector_size (int fd)
{
  int size = 0;

  if (ioctl (fd, BLKSSZGET, &size) == -1 || size <= 0) {
    nbdkit_debug ("file: BLKSSZGET failed, assuming 512 byte sectors: %m");
    return 512;
  }
  return size;
}

static void *
file_open (int readonly)
{
  struct handle *h;
  struct stat st;
  const char *path;
  char *free_me;
  int flags, fl, r;

  path = connection_path (&free_me);
  if (path == NULL)
    return NULL;

  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    free (free_me);
    return NULL;
  }

  /* In dir= mode the client picks the file, so it could be a FIFO:
   * open without blocking and check the type before using it.
   */
  flags = O_CLOEXEC | O_NOCTTY | (directory != NULL ? O_NONBLOCK : 0);
  h->can_write = !readonly;
  h->fd = open (path, flags | (readonly ? O_RDONLY : O_RDWR));
  if (h->fd == -1 && !readonly &&
      (errno == EACCES || errno == EPERM || errno == EROFS)) {
    /* Serve a file we may not write to read-only, as -r would. */
    nbdkit_debug ("file: %s: cannot open for writing (%m), "
                  "serving it read-only", path);
    h->can_write = false;
    h->fd = open (path, flags | O_RDONLY);
  }
  if (h->fd == -1) {
    nbdkit_error ("open: %s: %m", path);
    goto err;
  }

  if (fstat (h->fd, &st) == -1) {
    nbdkit_error ("fstat: %s: %m", path);
    goto err;
  }
  if (directory != NULL && !is_servable (&st)) {
    nbdkit_error ("%s: not a regular file or block device", path);
    errno = ENOENT;
    goto err;
  }
  if (flags & O_NONBLOCK) {
    fl = fcntl (h->fd, F_GETFL);
    if (fl == -1 || fcntl (h->fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
      nbdkit_error ("fcntl: %s: %m", path);
      goto err;
    }
  }

  h->is_block_device = S_ISBLK (st.st_mode);
  h->sector_size = h->is_block_device ? logical_sector_size (h->fd) : 1;
  atomic_init (&h->can_punch_hole, true);
  atomic_init (&h->can_zero_range, true);
  atomic_init (&h->can_fallocate, true);
  atomic_init (&h->can_zeroout, h->is_block_device);
  atomic_init (&h->can_discard, h->is_block_device);

  /* Only a hint: failure is not fatal. */
  r = posix_fadvise (h->fd, 0, 0, fadvise_advice);
  if (r != 0)
    nbdkit_debug ("file: posix_fadvise: %s: %s", path, strerror (r));

  free (free_me);
  return h;

 err:
  if (h->fd >= 0)
    close (h->fd);
  free (h);
  free (free_me);
  return NULL;
}

static void
file_close (void *handle)
{
  struct handle *h = handle;

  if (close (h->fd) == -1)
    nbdkit_error ("close: %m");
  free (h);
}

static int64_t
file_get_size (void *handle)
{
  struct handle *h = handle;
  struct stat st;
  uint64_t size;
  off_t end;

  if (h->is_block_device) {
    if (ioctl (h->fd, BLKGETSIZE64, &size) == 0)
      return size;
    end = lseek (h->fd, 0, SEEK_END);
    if (end == -1) {
      nbdkit_error ("lseek: %m");
      return -1;
    }
    return end;
  }

  if (fstat (h->fd, &st) == -1) {
    nbdkit_error ("fstat: %m");
    return -1;
  }
  return st.st_size;
}

static int
file_can_write (void *handle)
{
  struct handle *h = handle;

  return h->can_write;
}

/* All connections see the same file through the kernel, and a flush
 * on any of them flushes the file.
 */
static int
file_can_multi_conn (void *handle)
{
  return 1;
}

/* Trim is only a hint, so it is always accepted; io.c decides whether
 * it does anything.
 */
static int
file_can_trim (void *handle)
{
  return 1;
}

static int
file_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

/* file_zero fails fast when it could only write zeroes slowly. */
static int
file_can_fast_zero (void *handle)
{
  return 1;
}

static int
file_can_cache (void *handle)
{
  return NBDKIT_CACHE_NATIVE;
}

static struct nbdkit_plugin plugin = {
  .name              = "file",
  .longname          = "nbdkit file plugin",
  .version           = NBDKIT_VERSION_STRING,
  .description       = "Serve a file, a block device, or the files in a "
                       "directory",
  .magic_config_key  = "file",
  .unload            = file_unload,
  .config            = file_config,
  .config_complete   = file_config_complete,
  .config_help       = file_config_help,
  .dump_plugin       = file_dump_plugin,
  .list_exports      = file_list_exports,
  .open              = file_open,
  .close             = file_close,
  .get_size          = file_get_size,
  .can_write         = file_can_write,
  .can_multi_conn    = file_can_multi_conn,
  .can_trim          = file_can_trim,
  .can_fua           = file_can_fua,
  .can_fast_zero     = file_can_fast_zero,
  .can_extents       = file_can_extents,
  .can_cache         = file_can_cache,
  .pread             = file_pread,
  .pwrite            = file_pwrite,
  .flush             = file_flush,
  .trim              = file_trim,
  .zero              = file_zero,
  .extents           = file_extents,
  .cache             = file_cache,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
