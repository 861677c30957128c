/* plugins.c: finding, loading and describing the plugin, and its
 * configuration-phase callbacks: the bottom layer of the stack.
 *
 * The plugin's struct nbdkit_plugin is copied into our own (only
 * _struct_size bytes of it, the rest zero), so that plugins built
 * against older headers -- with fewer fields -- and newer ones -- with
 * more -- both work: a field we know but the plugin doesn't have is
 * simply NULL.  The serving-phase adapter is in plugin-ops.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dlfcn.h>
#include <unistd.h>

#include "internal.h"
#include "plugin.h"

struct plugin plugin;

const char *
name_of_thread_model (int model)
{
  switch (model) {
  case NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS:
    return "serialize_connections";
  case NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS:
    return "serialize_all_requests";
  case NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS:
    return "serialize_requests";
  case NBDKIT_THREAD_MODEL_PARALLEL:
    return "parallel";
  default:
    return "unknown";
  }
}

char *
plugin_find (const char *arg, bool *is_script)
{
  return find_layer (arg, "plugin", "NBDKIT_PLUGIN_PATH", PLUGINDIR,
                     is_script);
}

/* Load the plugin and call its .load.  arg is what the user typed (for
 * messages), filename the (malloc'd) file to dlopen, which the plugin
 * keeps.  Exits on any failure.
 */
struct backend *
plugin_register (const char *arg, char *filename)
{
  struct nbdkit_plugin *(*init) (void);
  struct nbdkit_plugin *p;
  size_t size;

  plugin.filename = filename;

  debug ("registering plugin %s", filename);

  plugin.dl = dlopen (filename, RTLD_NOW | RTLD_GLOBAL);
  if (plugin.dl == NULL) {
    fprintf (stderr,
             "nbdkit: error: cannot open plugin '%s': %s\n"
             "Use 'nbdkit --help' or read the nbdkit(1) manual page "
             "for documentation.\n",
             arg, dlerror ());
    exit (EXIT_FAILURE);
  }

  dlerror ();
  *(void **) &init = dlsym (plugin.dl, "plugin_init");
  if (init == NULL)
    fatal ("%s: invalid plugin: it does not define plugin_init "
           "(is it really an nbdkit plugin?)", filename);

  p = init ();
  if (p == NULL)
    fatal ("%s: plugin registration function failed", filename);
  /* Plugins in other languages often allocate the struct they return
   * and never free it (the seed Rust example does); keep the pointer so
   * that it is not reported as a leak.
   */
  plugin.registered = p;

  if (p->_api_version < 1 || p->_api_version > 2)
    fatal ("%s: plugin uses API version %d, but this server supports "
           "only versions 1 and 2", filename, p->_api_version);
  if (p->_struct_size < offsetof (struct nbdkit_plugin, errno_is_preserved))
    fatal ("%s: plugin struct is too small (%" PRIu64 " bytes): "
           "is this really an nbdkit plugin?", filename, p->_struct_size);
  if (p->_thread_model < NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS ||
      p->_thread_model > NBDKIT_THREAD_MODEL_PARALLEL)
    fatal ("%s: plugin has an invalid THREAD_MODEL (%d)",
           filename, p->_thread_model);

  /* Copy what the plugin has, zero what it doesn't know about. */
  size = MIN (p->_struct_size, sizeof plugin.p);
  memset (&plugin.p, 0, sizeof plugin.p);
  memcpy (&plugin.p, p, size);

  if (!is_valid_layer_name (plugin.p.name))
    fatal ("%s: plugin must have a .name field containing only ASCII "
           "letters, digits and non-leading dashes", filename);
  if (plugin.p.open == NULL)
    fatal ("%s: plugin must have a .open callback", filename);
  if (plugin.p.get_size == NULL)
    fatal ("%s: plugin must have a .get_size callback", filename);
  if (plugin.p.pread == NULL && plugin.p._pread_v1 == NULL)
    fatal ("%s: plugin must have a .pread callback", filename);

  /* API version 1 plugins keep their data callbacks in the _v1 slots
   * and have garbage-free (but meaningless) _unusedN slots: ignore them.
   */
  if (p->_api_version == 1) {
    plugin.p.pread = NULL;
    plugin.p.pwrite = NULL;
    plugin.p.flush = NULL;
    plugin.p.trim = NULL;
    plugin.p.zero = NULL;
  }

  plugin.name = plugin.p.name;
  plugin.max_thread_model = p->_thread_model;

  debug ("registered plugin %s (name %s)", filename, plugin.name);

  apply_debug_flags (plugin.dl, plugin.name);

  debug ("%s: load", plugin.name);
  if (plugin.p.load)
    plugin.p.load ();

  plugin_ops_init (&plugin.backend);
  plugin.backend.next = NULL;
  plugin.backend.index = 0;
  plugin.backend.type = "plugin";
  plugin.backend.name = plugin.name;
  plugin.backend.filename = plugin.filename;
  plugin.backend.dl = plugin.dl;
  return &plugin.backend;
}

void
plugin_unload (struct backend *b)
{
  if (plugin.dl == NULL)
    return;
  debug ("%s: unload plugin", plugin.name);
  if (plugin.p.unload)
    plugin.p.unload ();
  free_interns ();
  /* Leave the plugin mapped: atexit handlers or thread-local destructors
   * registered by it may still run after this.
   */
  free (plugin.filename);
  plugin.filename = NULL;
  plugin.dl = NULL;
}

void
plugin_usage (struct backend *b)
{
  printf ("\nplugin: %s", plugin.name);
  if (plugin.p.longname)
    printf (" (%s)", plugin.p.longname);
  printf ("\n(%s)\n", plugin.filename);
  if (plugin.p.description) {
    fputs (plugin.p.description, stdout);
    if (plugin.p.description[0] &&
        plugin.p.description[strlen (plugin.p.description) - 1] != '\n')
      putchar ('\n');
  }
  if (plugin.p.config_help) {
    fputs (plugin.p.config_help, stdout);
    if (plugin.p.config_help[0] &&
        plugin.p.config_help[strlen (plugin.p.config_help) - 1] != '\n')
      putchar ('\n');
  }
}

void
plugin_version (struct backend *b)
{
  if (plugin.p.version)
    printf ("%s %s\n", plugin.name, plugin.p.version);
  else
    printf ("%s\n", plugin.name);
}

void
plugin_dump_fields (struct backend *b)
{
  CLEANUP_FREE char *path = realpath (plugin.filename, NULL);
  const struct nbdkit_plugin *p = &plugin.p;

  printf ("path=%s\n", path ? path : plugin.filename);
  printf ("name=%s\n", plugin.name);
  if (p->version)
    printf ("version=%s\n", p->version);
  printf ("api_version=%d\n", p->_api_version);
  printf ("struct_size=%" PRIu64 "\n", p->_struct_size);
  printf ("max_thread_model=%s\n",
          name_of_thread_model (plugin.max_thread_model));
  printf ("thread_model=%s\n", name_of_thread_model (thread_model));
  printf ("errno_is_preserved=%d\n", !!p->errno_is_preserved);
  if (p->magic_config_key)
    printf ("magic_config_key=%s\n", p->magic_config_key);

#define HAS(field) \
  if (p->field) printf ("has_%s=1\n", #field)
  HAS (longname);
  HAS (description);
  HAS (load);
  HAS (unload);
  HAS (dump_plugin);
  HAS (config);
  HAS (config_complete);
  HAS (config_help);
  HAS (thread_model);
  HAS (get_ready);
  HAS (after_fork);
  HAS (cleanup);
  HAS (preconnect);
  HAS (list_exports);
  HAS (default_export);
  HAS (open);
  HAS (close);
  HAS (export_description);
  HAS (get_size);
  HAS (block_size);
  HAS (can_write);
  HAS (can_flush);
  HAS (is_rotational);
  HAS (can_trim);
  HAS (can_zero);
  HAS (can_fast_zero);
  HAS (can_extents);
  HAS (can_fua);
  HAS (can_multi_conn);
  HAS (can_cache);
  HAS (pread);
  HAS (pwrite);
  HAS (flush);
  HAS (trim);
  HAS (zero);
  HAS (extents);
  HAS (cache);
  HAS (_pread_v1);
  HAS (_pwrite_v1);
  HAS (_flush_v1);
  HAS (_trim_v1);
  HAS (_zero_v1);
#undef HAS

  fflush (stdout);
  if (p->dump_plugin)
    p->dump_plugin ();
  fflush (stdout);
}

const char *
plugin_magic_config_key (struct backend *b)
{
  return plugin.p.magic_config_key;
}

void
plugin_config (struct backend *b, const char *key, const char *value)
{
  debug ("%s: config key=%s, value=%s", plugin.name, key, value);

  if (plugin.p.config == NULL) {
    fprintf (stderr,
             "nbdkit: %s: this plugin does not need command line "
             "configuration\n"
             "Try using: nbdkit --help %s\n",
             plugin.filename, plugin.filename);
    exit (EXIT_FAILURE);
  }
  if (plugin.p.config (key, value) == -1)
    exit (EXIT_FAILURE);
}

void
plugin_config_complete (struct backend *b)
{
  debug ("%s: config_complete", plugin.name);
  if (plugin.p.config_complete && plugin.p.config_complete () == -1)
    exit (EXIT_FAILURE);
}

/* The effective thread model: the strictest of THREAD_MODEL and what
 * .thread_model() says.  A looser answer is ignored.
 */
int
plugin_thread_model (struct backend *b)
{
  int model = plugin.max_thread_model;

  if (plugin.p.thread_model) {
    int r = plugin.p.thread_model ();
    if (r == -1)
      exit (EXIT_FAILURE);
    if (r < NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS ||
        r > NBDKIT_THREAD_MODEL_PARALLEL)
      fatal ("%s: .thread_model returned an invalid value (%d)",
             plugin.name, r);
    if (r < model)
      model = r;
  }
  return model;
}

void
plugin_get_ready (struct backend *b)
{
  debug ("%s: get_ready", plugin.name);
  if (plugin.p.get_ready && plugin.p.get_ready () == -1)
    exit (EXIT_FAILURE);
}

void
plugin_after_fork (struct backend *b)
{
  debug ("%s: after_fork", plugin.name);
  if (plugin.p.after_fork && plugin.p.after_fork () == -1)
    exit (EXIT_FAILURE);
}

void
plugin_cleanup (struct backend *b)
{
  debug ("%s: cleanup", plugin.name);
  if (plugin.p.cleanup)
    plugin.p.cleanup ();
}
