/* plugin.h: the plugin layer's private state, shared by plugins.c
 * (loading, configuration) and plugin-ops.c (serving).
 *
 * There is exactly one plugin.  The struct nbdkit_plugin is our own
 * copy (only _struct_size bytes of the plugin's were copied; the rest
 * is zero), so newer fields can always be tested for NULL.
 */

#ifndef NBDKIT_SERVER_PLUGIN_H
#define NBDKIT_SERVER_PLUGIN_H

#include "internal.h"

struct plugin {
  struct backend backend;       /* the layer, as the stack sees it */
  struct nbdkit_plugin p;
  char *filename;               /* as given, or resolved from short name */
  void *dl;
  const char *name;             /* == p.name */
  int max_thread_model;         /* from _thread_model */
  const struct nbdkit_plugin *registered; /* what plugin_init returned */
};
extern struct plugin plugin;

/* plugins.c: the start-up and shutdown methods. */
void plugin_unload (struct backend *b);
void plugin_usage (struct backend *b);
void plugin_version (struct backend *b);
void plugin_dump_fields (struct backend *b);
void plugin_config (struct backend *b, const char *key, const char *value);
void plugin_config_complete (struct backend *b);
const char *plugin_magic_config_key (struct backend *b);
int plugin_thread_model (struct backend *b);
void plugin_get_ready (struct backend *b);
void plugin_after_fork (struct backend *b);
void plugin_cleanup (struct backend *b);

/* plugin-ops.c: fill in every method of the plugin's layer. */
void plugin_ops_init (struct backend *b);

#endif /* NBDKIT_SERVER_PLUGIN_H */
