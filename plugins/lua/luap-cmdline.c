/* luap-cmdline.c: find the Lua script on the server's command line.
 *
 * Why: a script may set name, version, longname, description,
 * config_help and magic_config_key.  The server copies those fields
 * out of struct nbdkit_plugin when plugin_init returns, and --help and
 * --version never call .config, so to behave like a C plugin the
 * script has to be loaded from plugin_init, before the server has
 * passed us any parameter.  We therefore look at the command line the
 * way the server's getopt_long will: skip the server options (and
 * their arguments), take the first non-option as the plugin, and the
 * next one is "script=PATH" or the bare script path.
 *
 * This is only a head start.  .config is still the authority: if the
 * path found here is not the one the server passes as the script, the
 * early load is discarded and the script is loaded again there.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luap.h"

/* The server's options that take an argument (nbdkit 1.32 and later).
 * Long options may be abbreviated to any unambiguous prefix, as with
 * getopt_long.
 */
static const char short_with_arg[] = "DegipPtuU";
static const char short_no_arg[] = "46fnorsvV";

static const char *const long_with_arg[] = {
  "debug", "export", "export-name", "exportname", "filter", "group",
  "ip-addr", "ipaddr", "log", "mask-handshake", "pid-file", "pidfile",
  "port", "run", "selinux-label", "threads", "tls", "tls-certificates",
  "tls-psk", "unix", "user", NULL
};

static const char *const long_no_arg[] = {
  "ipv4-only", "ipv6-only", "dump-config", "dump-plugin",
  "exit-with-parent", "foreground", "no-fork", "help", "new-style",
  "newstyle", "no-sr", "old-style", "oldstyle", "read-only", "readonly",
  "single", "stdin", "swap", "tls-verify-peer", "verbose", "version",
  "vsock", "print-uri", "no-mc", "no-meta-contexts",
  "no-structured-replies", "long-options", "short-options", NULL
};

/* Does long option NAME (without "--", up to '=' or the end) take an
 * argument?  Exact matches win; otherwise all options it abbreviates
 * must agree.  Unknown options are assumed to take none.
 */
static bool
long_takes_arg (const char *name, size_t len)
{
  size_t i;
  int with = 0, without = 0;

  for (i = 0; long_with_arg[i]; ++i) {
    if (strlen (long_with_arg[i]) == len &&
        strncmp (long_with_arg[i], name, len) == 0)
      return true;
    if (strncmp (long_with_arg[i], name, len) == 0)
      with++;
  }
  for (i = 0; long_no_arg[i]; ++i) {
    if (strlen (long_no_arg[i]) == len &&
        strncmp (long_no_arg[i], name, len) == 0)
      return false;
    if (strncmp (long_no_arg[i], name, len) == 0)
      without++;
  }
  return with > 0 && without == 0;
}

/* Read /proc/self/cmdline into an argv-like array of pointers into
 * *bufp.  Returns the number of arguments, or -1.
 */
static int
read_cmdline (char **bufp, char ***argvp)
{
  FILE *fp;
  char *buf = NULL, **argv;
  size_t len = 0, cap = 0, i;
  int argc = 0, j;

  fp = fopen ("/proc/self/cmdline", "r");
  if (fp == NULL)
    return -1;
  for (;;) {
    size_t n;

    if (cap - len < 1024) {
      char *p = realloc (buf, cap ? cap * 2 : 4096);
      if (p == NULL)
        goto err;
      buf = p;
      cap = cap ? cap * 2 : 4096;
    }
    n = fread (buf + len, 1, cap - len - 1, fp);
    len += n;
    if (n == 0) {
      if (ferror (fp))
        goto err;
      break;
    }
  }
  fclose (fp);
  fp = NULL;
  if (len == 0 || buf[len - 1] != '\0')
    buf[len++] = '\0';

  for (i = 0; i < len; ++i)
    if (buf[i] == '\0')
      argc++;
  argv = calloc (argc + 1, sizeof *argv);
  if (argv == NULL)
    goto err;
  for (i = 0, j = 0; j < argc; ++j) {
    argv[j] = &buf[i];
    i += strlen (&buf[i]) + 1;
  }
  *bufp = buf;
  *argvp = argv;
  return argc;

 err:
  if (fp)
    fclose (fp);
  free (buf);
  return -1;
}

/* Is KEY=... a "key=value" parameter in the server's sense? */
static bool
is_config_key (const char *arg, size_t len)
{
  size_t i;

  if (len == 0 ||
      !((arg[0] >= 'a' && arg[0] <= 'z') || (arg[0] >= 'A' && arg[0] <= 'Z')))
    return false;
  for (i = 1; i < len; ++i) {
    char c = arg[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* Returns the script path (malloc'd) or NULL if none is apparent. */
char *
luap_cmdline_script (void)
{
  char *buf = NULL, **argv = NULL, *ret = NULL;
  int argc, i, nonopts = 0;
  bool posixly = getenv ("POSIXLY_CORRECT") != NULL;
  bool only_nonopts = false;

  argc = read_cmdline (&buf, &argv);
  if (argc <= 1)
    goto out;

  for (i = 1; i < argc; ++i) {
    const char *a = argv[i];

    if (!only_nonopts && strcmp (a, "--") == 0) {
      only_nonopts = true;
      continue;
    }
    if (!only_nonopts && a[0] == '-' && a[1] == '-') {
      const char *eq = strchr (a + 2, '=');
      size_t n = eq ? (size_t) (eq - (a + 2)) : strlen (a + 2);

      if (!eq && long_takes_arg (a + 2, n))
        i++;                    /* skip the separate argument */
      continue;
    }
    if (!only_nonopts && a[0] == '-' && a[1] != '\0') {
      const char *p;

      for (p = a + 1; *p; ++p) {
        if (strchr (short_with_arg, *p)) {
          if (p[1] == '\0')
            i++;                /* argument is the next word */
          break;                /* else the rest is the argument */
        }
        if (!strchr (short_no_arg, *p))
          break;                /* unknown: getopt would fail anyway */
      }
      continue;
    }

    /* A non-option: the plugin, then its first parameter. */
    nonopts++;
    if (posixly)
      only_nonopts = true;
    if (nonopts == 2) {
      const char *eq = strchr (a, '=');

      if (eq && is_config_key (a, eq - a)) {
        if (strncmp (a, "script=", 7) == 0)
          ret = strdup (a + 7);
      }
      else
        ret = strdup (a);
      break;
    }
  }

 out:
  free (argv);
  free (buf);
  return ret;
}
