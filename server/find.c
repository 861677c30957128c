/* find.c: turning a PLUGIN or --filter=FILTER argument into a file.
 *
 * A short name ("memory", not "./memory.so") is looked up as
 * nbdkit-NAME-KIND.so first in the directories of an environment
 * variable ($NBDKIT_PLUGIN_PATH or $NBDKIT_FILTER_PATH, our extension,
 * which the build-tree wrapper sets), then in the compiled-in
 * directory.  For plugins an executable nbdkit-NAME-plugin (a script)
 * is preferred in each directory.  Anything else is a path, used as
 * given.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <unistd.h>
#include <sys/stat.h>

#include "internal.h"

static bool
is_short_name (const char *arg)
{
  return strchr (arg, '.') == NULL && strchr (arg, '/') == NULL;
}

static bool
is_executable_file (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISREG (st.st_mode) &&
    access (path, X_OK) == 0;
}

/* Search one directory.  Returns a malloc'd path or NULL. */
static char *
search_dir (const char *dir, size_t dirlen, const char *name,
            const char *kind, bool *is_script)
{
  char *path;

  if (is_script) {
    if (asprintf (&path, "%.*s/nbdkit-%s-%s", (int) dirlen, dir, name,
                  kind) == -1)
      fatal ("asprintf: %m");
    if (is_executable_file (path)) {
      *is_script = true;
      return path;
    }
    free (path);
  }

  if (asprintf (&path, "%.*s/nbdkit-%s-%s.so", (int) dirlen, dir, name,
                kind) == -1)
    fatal ("asprintf: %m");
  if (access (path, F_OK) == 0)
    return path;
  free (path);
  return NULL;
}

char *
find_layer (const char *arg, const char *kind, const char *env,
            const char *dir, bool *is_script)
{
  const char *p = getenv (env);
  char *r;

  if (is_script)
    *is_script = false;
  if (!is_short_name (arg)) {
    r = strdup (arg);
    if (r == NULL)
      fatal ("strdup: %m");
    return r;
  }

  for (; p && *p; ) {
    size_t len = strcspn (p, ":");

    if (len > 0) {
      r = search_dir (p, len, arg, kind, is_script);
      if (r)
        return r;
    }
    p += len;
    if (*p == ':')
      p++;
  }

  r = search_dir (dir, strlen (dir), arg, kind, is_script);
  if (r)
    return r;
  /* Not found: return the path in dir anyway, so that the dlopen
   * error names the place we looked.
   */
  if (asprintf (&r, "%s/nbdkit-%s-%s.so", dir, arg, kind) == -1)
    fatal ("asprintf: %m");
  return r;
}

bool
is_valid_layer_name (const char *name)
{
  const char *p;

  if (name == NULL || *name == '\0' || *name == '-')
    return false;
  for (p = name; *p; ++p)
    if (!isascii ((unsigned char) *p) ||
        !(isalnum ((unsigned char) *p) || *p == '-'))
      return false;
  return true;
}
