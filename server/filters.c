/* filters.c: loading filters, and the filter adapter.
 *
 * Each --filter adds a layer on top of the stack.  The adapter calls
 * the filter's callback when it has one, passing the layer below as
 * "next"; when it has none, the call goes straight to the layer below,
 * so a filter only pays for what it intercepts.
 *
 * Filters have no ABI guarantee in nbdkit: a filter is only loaded by
 * the nbdkit version it was built for.  We load filters built against
 * our own header and filters built for nbdkit 1.32.x (Debian 12's),
 * whose struct nbdkit_filter and struct nbdkit_next_ops have exactly
 * our layout (tests/unit/test-filter-abi.c checks every offset).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dlfcn.h>

#include "internal.h"

struct backend_filter {
  struct backend backend;       /* first: container_of is a cast */
  struct nbdkit_filter f;       /* our copy */
};

#define F(b) (&container_of ((b), struct backend_filter, backend)->f)

/* Start-up and shutdown. */

static void
filter_unload (struct backend *b)
{
  struct backend_filter *bf = container_of (b, struct backend_filter,
                                            backend);

  /* nbdkit unloads the plugin first, then the filters from the inside
   * out.
   */
  b->next->unload (b->next);
  debug ("%s: unload filter", b->name);
  if (bf->f.unload)
    bf->f.unload ();
  /* Leave the filter mapped: atexit handlers or thread-local
   * destructors it registered may still run after this.
   */
  free (b->filename);
  free (bf);
}

static void
print_text (const char *s)
{
  if (s && s[0]) {
    fputs (s, stdout);
    if (s[strlen (s) - 1] != '\n')
      putchar ('\n');
  }
}

static void
filter_usage (struct backend *b)
{
  const struct nbdkit_filter *f = F (b);

  printf ("\nfilter: %s", b->name);
  if (f->longname)
    printf (" (%s)", f->longname);
  printf ("\n(%s)\n", b->filename);
  print_text (f->description);
  print_text (f->config_help);
  b->next->usage (b->next);
}

static void
filter_version (struct backend *b)
{
  printf ("%s %s\n", b->name, F (b)->_version);
  b->next->version (b->next);
}

static void
filter_dump_fields (struct backend *b)
{
  b->next->dump_fields (b->next);
}

static int
next_config (struct backend *b, const char *key, const char *value)
{
  b->config (b, key, value);
  return 0;
}

static void
filter_config (struct backend *b, const char *key, const char *value)
{
  const struct nbdkit_filter *f = F (b);

  debug ("%s: config key=%s, value=%s", b->name, key, value);
  if (f->config) {
    if (f->config (next_config, b->next, key, value) == -1)
      exit (EXIT_FAILURE);
  }
  else
    b->next->config (b->next, key, value);
}

static int
next_config_complete (struct backend *b)
{
  b->config_complete (b);
  return 0;
}

static void
filter_config_complete (struct backend *b)
{
  const struct nbdkit_filter *f = F (b);

  debug ("%s: config_complete", b->name);
  if (f->config_complete) {
    if (f->config_complete (next_config_complete, b->next) == -1)
      exit (EXIT_FAILURE);
  }
  else
    b->next->config_complete (b->next);
}

/* Filters cannot have a magic config key: the plugin's applies. */
static const char *
filter_magic_config_key (struct backend *b)
{
  return b->next->magic_config_key (b->next);
}

/* The strictest of this filter's wish and everything below it. */
static int
filter_thread_model (struct backend *b)
{
  const struct nbdkit_filter *f = F (b);
  int below = b->next->thread_model (b->next);
  int model = NBDKIT_THREAD_MODEL_PARALLEL;

  if (f->thread_model) {
    model = f->thread_model ();
    if (model == -1)
      exit (EXIT_FAILURE);
    if (model < NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS ||
        model > NBDKIT_THREAD_MODEL_PARALLEL)
      fatal ("%s: .thread_model returned an invalid value (%d)",
             b->name, model);
  }
  return MIN (model, below);
}

/* get_ready and after_fork run from the plugin outwards: a filter's
 * callback is only reached once everything below it succeeded.
 */
static void
filter_get_ready (struct backend *b)
{
  const struct nbdkit_filter *f = F (b);

  b->next->get_ready (b->next);
  debug ("%s: get_ready thread_model=%d", b->name, thread_model);
  if (f->get_ready && f->get_ready (thread_model) == -1)
    exit (EXIT_FAILURE);
}

static void
filter_after_fork (struct backend *b)
{
  const struct nbdkit_filter *f = F (b);

  b->next->after_fork (b->next);
  debug ("%s: after_fork", b->name);
  if (f->after_fork && f->after_fork (b->next) == -1)
    exit (EXIT_FAILURE);
}

/* cleanup runs from the outside in: a filter may still use the layers
 * below it (closing contexts it opened on them).
 */
static void
filter_cleanup (struct backend *b)
{
  const struct nbdkit_filter *f = F (b);

  debug ("%s: cleanup", b->name);
  if (f->cleanup)
    f->cleanup (b->next);
  b->next->cleanup (b->next);
}

/* Connection phase. */

static int
next_preconnect (struct backend *b, int readonly)
{
  return backend_preconnect (b, readonly);
}

static int
filter_preconnect (struct backend *b, int readonly)
{
  const struct nbdkit_filter *f = F (b);

  if (f->preconnect)
    return f->preconnect (next_preconnect, b->next, readonly);
  return backend_preconnect (b->next, readonly);
}

static int
next_list_exports (struct backend *b, int readonly,
                   struct nbdkit_exports *exports)
{
  return backend_list_exports (b, readonly, exports);
}

static int
filter_list_exports (struct backend *b, int readonly, int is_tls,
                     struct nbdkit_exports *exports)
{
  const struct nbdkit_filter *f = F (b);

  if (f->list_exports)
    return f->list_exports (next_list_exports, b->next, readonly, is_tls,
                            exports);
  return backend_list_exports (b->next, readonly, exports);
}

static const char *
next_default_export (struct backend *b, int readonly)
{
  return backend_default_export (b, readonly);
}

static const char *
filter_default_export (struct backend *b, int readonly, int is_tls)
{
  const struct nbdkit_filter *f = F (b);

  if (f->default_export)
    return f->default_export (next_default_export, b->next, readonly,
                              is_tls);
  return backend_default_export (b->next, readonly);
}

/* The "next" of a filter's .open: open the layer below, as part of the
 * same connection (or shared, if this context is).
 */
static int
next_open (struct context *c, int readonly, const char *exportname)
{
  struct context *c_next;

  c_next = backend_open (c->b->next, readonly, exportname, c->conn == NULL);
  if (c_next == NULL)
    return -1;
  c_next = nbdkit_context_set_next (c, c_next);
  if (c_next) {
    /* The filter had already associated a context: ours replaces it,
     * and the old one is closed so that nothing leaks.
     */
    backend_finalize (c_next);
    backend_close (c_next);
  }
  return 0;
}

static void *
filter_open (struct context *c, int readonly, const char *exportname,
             int is_tls)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->open)
    return f->open (next_open, c, readonly, exportname, is_tls);
  if (next_open (c, readonly, exportname) == -1)
    return NULL;
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int
filter_prepare (struct context *c, int readonly)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->prepare && f->prepare (c->c_next, c->handle, readonly) == -1)
    return -1;
  return 0;
}

static int
filter_finalize (struct context *c)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->finalize && f->finalize (c->c_next, c->handle) == -1)
    return -1;
  return 0;
}

static void
filter_close (struct context *c)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->close)
    f->close (c->handle);
}

/* Everything else: the filter's callback, or the same question of the
 * layer below.  A filter that did not open the layer below and does
 * not intercept a call cannot answer it.
 */
static int
no_next (struct context *c, const char *what)
{
  nbdkit_error ("%s: %s: the filter has no layer below it open",
                c->b->name, what);
  return -1;
}

#define PASS_QUERY(type, method)                                        \
  static type                                                           \
  filter_##method (struct context *c)                                   \
  {                                                                     \
    const struct nbdkit_filter *f = F (c->b);                           \
                                                                        \
    if (f->method)                                                      \
      return f->method (c->c_next, c->handle);                          \
    if (c->c_next == NULL)                                              \
      return no_next (c, #method);                                      \
    return backend_##method (c->c_next);                                \
  }

PASS_QUERY (int64_t, get_size)
PASS_QUERY (int, can_write)
PASS_QUERY (int, can_flush)
PASS_QUERY (int, is_rotational)
PASS_QUERY (int, can_trim)
PASS_QUERY (int, can_zero)
PASS_QUERY (int, can_fast_zero)
PASS_QUERY (int, can_extents)
PASS_QUERY (int, can_fua)
PASS_QUERY (int, can_multi_conn)
PASS_QUERY (int, can_cache)

static const char *
filter_export_description (struct context *c)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->export_description)
    return f->export_description (c->c_next, c->handle);
  if (c->c_next == NULL)
    return NULL;
  return backend_export_description (c->c_next);
}

static int
filter_block_size (struct context *c, uint32_t *minimum,
                   uint32_t *preferred, uint32_t *maximum)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->block_size)
    return f->block_size (c->c_next, c->handle, minimum, preferred,
                          maximum);
  if (c->c_next == NULL)
    return no_next (c, "block_size");
  return backend_block_size (c->c_next, minimum, preferred, maximum);
}

static int
no_next_data (struct context *c, const char *what, int *err)
{
  no_next (c, what);
  *err = EIO;
  return -1;
}

static int
filter_pread (struct context *c, void *buf, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->pread)
    return f->pread (c->c_next, c->handle, buf, count, offset, flags, err);
  if (c->c_next == NULL)
    return no_next_data (c, "pread", err);
  return backend_pread (c->c_next, buf, count, offset, flags, err);
}

static int
filter_pwrite (struct context *c, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->pwrite)
    return f->pwrite (c->c_next, c->handle, buf, count, offset, flags, err);
  if (c->c_next == NULL)
    return no_next_data (c, "pwrite", err);
  return backend_pwrite (c->c_next, buf, count, offset, flags, err);
}

static int
filter_flush (struct context *c, uint32_t flags, int *err)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->flush)
    return f->flush (c->c_next, c->handle, flags, err);
  if (c->c_next == NULL)
    return no_next_data (c, "flush", err);
  return backend_flush (c->c_next, flags, err);
}

static int
filter_trim (struct context *c, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->trim)
    return f->trim (c->c_next, c->handle, count, offset, flags, err);
  if (c->c_next == NULL)
    return no_next_data (c, "trim", err);
  return backend_trim (c->c_next, count, offset, flags, err);
}

static int
filter_zero (struct context *c, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->zero)
    return f->zero (c->c_next, c->handle, count, offset, flags, err);
  if (c->c_next == NULL)
    return no_next_data (c, "zero", err);
  return backend_zero (c->c_next, count, offset, flags, err);
}

static int
filter_extents (struct context *c, uint32_t count, uint64_t offset,
                uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->extents)
    return f->extents (c->c_next, c->handle, count, offset, flags,
                       extents, err);
  if (c->c_next == NULL)
    return no_next_data (c, "extents", err);
  return backend_extents (c->c_next, count, offset, flags, extents, err);
}

static int
filter_cache (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  const struct nbdkit_filter *f = F (c->b);

  if (f->cache)
    return f->cache (c->c_next, c->handle, count, offset, flags, err);
  if (c->c_next == NULL)
    return no_next_data (c, "cache", err);
  return backend_cache (c->c_next, count, offset, flags, err);
}

/* The functions filters call to manage contexts themselves. */

NBDKIT_DLL_PUBLIC nbdkit_backend *
nbdkit_context_get_backend (nbdkit_context *context)
{
  if (context == NULL) {
    nbdkit_error ("nbdkit_context_get_backend: context must not be NULL");
    return NULL;
  }
  return context->b->next;
}

NBDKIT_DLL_PUBLIC nbdkit_next *
nbdkit_next_context_open (nbdkit_backend *b, int readonly,
                          const char *exportname, int shared)
{
  if (b == NULL) {
    nbdkit_error ("nbdkit_next_context_open: backend must not be NULL");
    return NULL;
  }
  return backend_open (b, readonly, exportname, shared);
}

NBDKIT_DLL_PUBLIC void
nbdkit_next_context_close (nbdkit_next *next)
{
  if (next)
    backend_close (next);
}

NBDKIT_DLL_PUBLIC nbdkit_next *
nbdkit_context_set_next (nbdkit_context *context, nbdkit_next *next)
{
  struct context *old;

  if (context == NULL) {
    nbdkit_error ("nbdkit_context_set_next: context must not be NULL");
    return NULL;
  }
  if (next && next->b != context->b->next) {
    nbdkit_error ("%s: nbdkit_context_set_next: the context is not one "
                  "of the layer below", context->b->name);
    return NULL;
  }
  old = context->c_next;
  context->c_next = next;
  return old;
}

/* Loading. */

/* Filters built for these versions have our layout. */
static bool
is_compatible_version (const char *v)
{
  return strcmp (v, NBDKIT_VERSION_STRING) == 0 ||
    strncmp (v, "1.32.", 5) == 0;
}

struct backend *
filter_register (struct backend *next, const char *arg)
{
  struct backend_filter *bf;
  struct backend *b;
  struct nbdkit_filter *(*init) (void);
  struct nbdkit_filter *f;
  char *filename = find_layer (arg, "filter", "NBDKIT_FILTER_PATH",
                               FILTERDIR, NULL);
  void *dl;

  debug ("registering filter %s", filename);
  dl = dlopen (filename, RTLD_NOW | RTLD_GLOBAL);
  if (dl == NULL) {
    fprintf (stderr, "nbdkit: error: cannot open filter '%s': %s\n"
             "Use 'nbdkit --help' or read the nbdkit(1) manual page "
             "for documentation.\n", arg, dlerror ());
    exit (EXIT_FAILURE);
  }

  dlerror ();
  *(void **) &init = dlsym (dl, "filter_init");
  if (init == NULL)
    fatal ("%s: invalid filter: it does not define filter_init "
           "(is it really an nbdkit filter?)", filename);
  f = init ();
  if (f == NULL)
    fatal ("%s: filter registration function failed", filename);

  if (f->_api_version != NBDKIT_FILTER_API_VERSION)
    fatal ("%s: filter uses filter API version %d, but this server "
           "supports only version %d", filename, f->_api_version,
           NBDKIT_FILTER_API_VERSION);
  if (f->_version == NULL || !is_compatible_version (f->_version))
    fatal ("%s: filter was built for nbdkit %s, but this is nbdkit %s, "
           "which loads filters built for nbdkit %s or 1.32.x",
           filename, f->_version ? f->_version : "(unknown)",
           NBDKIT_VERSION_STRING, NBDKIT_VERSION_STRING);
  if (!is_valid_layer_name (f->name))
    fatal ("%s: filter must have a .name field containing only ASCII "
           "letters, digits and non-leading dashes", filename);

  bf = calloc (1, sizeof *bf);
  if (bf == NULL)
    fatal ("calloc: %m");
  bf->f = *f;
  b = &bf->backend;
  b->next = next;
  b->index = next->index + 1;
  b->type = "filter";
  b->name = bf->f.name;
  b->filename = filename;
  b->dl = dl;

  b->unload = filter_unload;
  b->usage = filter_usage;
  b->version = filter_version;
  b->dump_fields = filter_dump_fields;
  b->config = filter_config;
  b->config_complete = filter_config_complete;
  b->magic_config_key = filter_magic_config_key;
  b->thread_model = filter_thread_model;
  b->get_ready = filter_get_ready;
  b->after_fork = filter_after_fork;
  b->cleanup = filter_cleanup;
  b->preconnect = filter_preconnect;
  b->list_exports = filter_list_exports;
  b->default_export = filter_default_export;
  b->open = filter_open;
  b->prepare = filter_prepare;
  b->finalize = filter_finalize;
  b->close = filter_close;
  b->get_size = filter_get_size;
  b->export_description = filter_export_description;
  b->block_size = filter_block_size;
  b->can_write = filter_can_write;
  b->can_flush = filter_can_flush;
  b->is_rotational = filter_is_rotational;
  b->can_trim = filter_can_trim;
  b->can_zero = filter_can_zero;
  b->can_fast_zero = filter_can_fast_zero;
  b->can_extents = filter_can_extents;
  b->can_fua = filter_can_fua;
  b->can_multi_conn = filter_can_multi_conn;
  b->can_cache = filter_can_cache;
  b->pread = filter_pread;
  b->pwrite = filter_pwrite;
  b->flush = filter_flush;
  b->trim = filter_trim;
  b->zero = filter_zero;
  b->extents = filter_extents;
  b->cache = filter_cache;

  debug ("registered filter %s (name %s)", filename, b->name);
  apply_debug_flags (dl, b->name);

  debug ("%s: load", b->name);
  if (bf->f.load)
    bf->f.load ();
  return b;
}
