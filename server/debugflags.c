/* debugflags.c: -D NAME.FLAG=VALUE
 *
 * A debug flag is a global int in the plugin (or the server, for the
 * name "nbdkit") called NAME_debug_FLAG, with dots in FLAG replaced by
 * underscores.  The server sets it right after loading the plugin, before
 * any callback runs.  Unknown flags are warnings, not errors.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>

#include "internal.h"

struct debug_flag {
  struct debug_flag *next;
  char *name;                   /* plugin name or "nbdkit" */
  char *flag;                   /* flag with dots */
  int value;
  bool used;
};

static struct debug_flag *debug_flags;

void
add_debug_flag (const char *arg)
{
  const char *dot, *eq;
  struct debug_flag *f;

  dot = strchr (arg, '.');
  eq = strchr (arg, '=');
  if (dot == NULL || eq == NULL || dot > eq || dot == arg || eq == dot + 1)
    fatal ("-D (debug flag) must have the format NAME.FLAG=N");

  f = calloc (1, sizeof *f);
  if (f == NULL)
    fatal ("calloc: %m");
  f->name = strndup (arg, dot - arg);
  f->flag = strndup (dot + 1, eq - dot - 1);
  if (f->name == NULL || f->flag == NULL)
    fatal ("strndup: %m");
  if (nbdkit_parse_int ("debug flag", eq + 1, &f->value) == -1)
    exit (EXIT_FAILURE);
  f->next = debug_flags;
  debug_flags = f;
}

/* Build "NAME_debug_FLAG" with dots turned into underscores. */
static char *
symbol_name (const char *name, const char *flag)
{
  char *sym, *p;

  if (asprintf (&sym, "%s_debug_%s", name, flag) == -1)
    fatal ("asprintf: %m");
  for (p = sym; *p; ++p)
    if (*p == '.' || *p == '-')
      *p = '_';
  return sym;
}

/* Apply flags for NAME, looking the variables up in dl (a dlopen
 * handle, or RTLD_DEFAULT for the server itself).
 */
void
apply_debug_flags (void *dl, const char *name)
{
  struct debug_flag *f;

  for (f = debug_flags; f != NULL; f = f->next) {
    CLEANUP_FREE char *sym = NULL;
    int *var;

    if (f->used || strcmp (f->name, name) != 0)
      continue;
    sym = symbol_name (f->name, f->flag);
    var = dlsym (dl, sym);
    if (var == NULL) {
      fprintf (stderr,
               "nbdkit: warning: -D %s.%s: %s does not contain a "
               "global variable called %s\n",
               f->name, f->flag, name, sym);
      f->used = true;           /* don't warn twice */
      continue;
    }
    *var = f->value;
    f->used = true;
  }
}

void
free_debug_flags (void)
{
  struct debug_flag *f, *next;

  for (f = debug_flags; f != NULL; f = next) {
    next = f->next;
    if (!f->used)
      fprintf (stderr, "nbdkit: warning: debug flag -D %s.%s was not used\n",
               f->name, f->flag);
    free (f->name);
    free (f->flag);
    free (f);
  }
  debug_flags = NULL;
}

/* The server's own flags (-D nbdkit.FLAG=N), found with dlsym like a
 * plugin's, hence exported.
 */
NBDKIT_DLL_PUBLIC int nbdkit_debug_backend_controlpath = 1;
NBDKIT_DLL_PUBLIC int nbdkit_debug_backend_datapath = 1;
NBDKIT_DLL_PUBLIC int nbdkit_debug_tls_log = 0;
NBDKIT_DLL_PUBLIC int nbdkit_debug_tls_session = 0;

