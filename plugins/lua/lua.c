/* lua.c: the nbdkit Lua plugin.
 *
 *   nbdkit lua /path/to/script.lua [key=value ...]
 *
 * Every nbdkit callback calls the Lua global function of the same name,
 * if the script defines one, and otherwise does what nbdkit's own Lua
 * plugin does by default.  See nbdkit-lua-plugin(3).
 *
 * The plugin uses API version 2, so the flags of each request (FUA,
 * MAY_TRIM, FAST_ZERO, REQ_ONE) reach the script as an extra trailing
 * argument.  It allows every thread model; the script picks one with
 * thread_model().  Under serialize_all_requests and stricter, one Lua
 * interpreter serves everything.  Under serialize_requests and
 * parallel, each connection gets an interpreter of its own (see
 * luap_interp_new_connection), so connections really run at the same
 * time; the requests of one connection cannot, so parallel is run as
 * serialize_requests (see luap_thread_model).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luap.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define DEFAULT_CONFIG_HELP \
  "script=<FILENAME>     (required) The Lua script to load.\n" \
  "[the script may take further key=value parameters]"

/* Script loading state.  All of these are only touched while the
 * server is single-threaded (plugin_init, .load, .config).
 */
static bool script_bound;       /* .config accepted the script */
static bool preloaded;          /* plugin_init ran it in luap_main */
static char *preload_path;      /* path plugin_init tried */
static char *preload_error;     /* what went wrong then, if anything */
static bool load_failed;        /* the script's load() raised */

/* The thread model returned by the script's thread_model().  It
 * decides whether connections get their own interpreter, so it is
 * read by .open on any thread, but only written before serving.
 */
int luap_script_thread_model = NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS;

/* Fields the script may set, read from plugin_init. */
static char *meta_name, *meta_version, *meta_longname, *meta_description,
  *meta_config_help, *meta_magic_config_key;

/*----------------------------------------------------------------------
 * Global (not per-connection) callbacks.  They run in luap_main.
 */

/* Call r->fn () if it is defined.  "load" is also the name of a
 * function of Lua's base library, which is not a callback.
 */
static int
luap_void_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (!luap_push_function (L, r->fn))
    return 0;
  if (strcmp (r->fn, "load") == 0) {
    lua_getfield (L, LUA_REGISTRYINDEX, LUAP_STDLIB_LOAD);
    if (lua_rawequal (L, -1, -2))
      return 0;
    lua_pop (L, 1);
  }
  lua_call (L, 0, 0);
  return 0;
}

static int
luap_call_void (const char *fn)
{
  struct luap_req r = { .fn = fn };

  if (luap_main.L == NULL)
    return 0;
  return luap_request (&luap_main, fn, luap_void_body, &r);
}

/* Required callbacks; a script missing one is refused at start. */
static int
luap_check_required_body (lua_State *L)
{
  static const char *const required[] = { "open", "get_size", "pread", NULL };
  size_t i;

  for (i = 0; required[i]; ++i)
    if (!luap_is_defined (L, required[i]))
      return luaL_error (L, "%s: the script must define the functions "
                         "open, get_size and pread, but %s is missing",
                         luap_script.path, required[i]);
  return 0;
}

/* The script's metadata: global strings or functions returning one. */
static const char *const meta_keys[] = {
  "name", "version", "longname", "description", "config_help",
  "magic_config_key", NULL
};

struct luap_meta {
  const char *key;
  char *value;
};

static int
luap_metadata_body (lua_State *L)
{
  struct luap_meta *m = lua_touserdata (L, 1);

  lua_rawgeti (L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_pushstring (L, m->key);
  lua_rawget (L, -2);
  if (lua_isfunction (L, -1))
    lua_call (L, 0, 1);
  switch (lua_type (L, -1)) {
  case LUA_TNIL:
    return 0;
  case LUA_TSTRING:
    m->value = strdup (lua_tostring (L, -1));
    if (m->value == NULL)
      return luaL_error (L, "strdup: %s", strerror (errno));
    return 0;
  default:
    return luaL_error (L, "not a string or a function returning a "
                       "string, but %s", luaL_typename (L, -1));
  }
}

/* Fetch one metadata field.  Scripts written for nbdkit's Lua plugin
 * may well use a global called "name" or "version" for something
 * else, so anything unusable is ignored (with a debug message).
 */
static char *
luap_metadata (lua_State *L, const char *key)
{
  struct luap_meta m = { .key = key, .value = NULL };
  char *errmsg;

  if (luap_pcall_capture (L, luap_metadata_body, &m, &errmsg) == -1) {
    nbdkit_debug ("lua: ignoring the global %s: %s",
                  key, errmsg ? errmsg : "out of memory");
    free (errmsg);
    free (m.value);
    return NULL;
  }
  return m.value;
}

/* nbdkit accepts plugin names made of ASCII letters, digits and
 * (not first) '-'.
 */
static bool
luap_valid_name (const char *name)
{
  size_t i;

  if (name[0] == '\0')
    return false;
  for (i = 0; name[i]; ++i) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || (c == '-' && i > 0)))
      return false;
  }
  return true;
}

/* Load the script from plugin_init, if the command line names one,
 * so that its metadata can go into the plugin struct.  Problems are
 * kept for .config to report: nothing can be reported from here.
 */
static void
luap_preload (struct nbdkit_plugin *p)
{
  char *path, *errmsg = NULL;
  char *meta[6] = { NULL };
  lua_State *L;
  size_t i;

  luap_remember_cwd ();
  path = luap_cmdline_script ();
  if (path == NULL)
    return;
  if (access (path, R_OK) != 0) {
    /* .config will load it (and report the error) itself. */
    free (path);
    return;
  }
  preload_path = path;

  if (luap_script_read (path, &errmsg) == -1)
    goto defer;
  L = luap_state_new (&errmsg);
  if (L == NULL)
    goto defer;
  luap_main.L = L;
  if (luap_state_run_script (L, &errmsg) == -1)
    goto defer;
  for (i = 0; meta_keys[i]; ++i)
    meta[i] = luap_metadata (L, meta_keys[i]);
  if (meta[0] && !luap_valid_name (meta[0])) {
    nbdkit_debug ("lua: ignoring name \"%s\": a plugin name is made of "
                  "letters, digits and '-'", meta[0]);
    free (meta[0]);
    meta[0] = NULL;
  }

  meta_name = meta[0];
  meta_version = meta[1];
  meta_longname = meta[2];
  meta_description = meta[3];
  meta_config_help = meta[4];
  meta_magic_config_key = meta[5];
  if (meta_name)
    p->name = meta_name;
  if (meta_version)
    p->version = meta_version;
  p->longname = meta_longname;
  p->description = meta_description;
  if (meta_config_help)
    p->config_help = meta_config_help;
  p->magic_config_key = meta_magic_config_key;
  preloaded = true;
  return;

 defer:
  preload_error = errmsg ? errmsg : strdup ("out of memory");
  if (luap_main.L) {
    luap_closestate (luap_main.L);
    luap_main.L = NULL;
  }
}

static void
luap_load (void)
{
  luap_remember_cwd ();
  if (preloaded && luap_call_void ("load") == -1)
    load_failed = true;
}

static void
luap_unload (void)
{
  size_t i;
  char **meta[] = { &meta_name, &meta_version, &meta_longname,
                    &meta_description, &meta_config_help,
                    &meta_magic_config_key };

  if (luap_main.L) {
    luap_call_void ("unload");
    luap_closestate (luap_main.L);
    luap_main.L = NULL;
  }
  luap_config_free ();
  luap_script_free ();
  free (preload_path);
  free (preload_error);
  preload_path = preload_error = NULL;
  for (i = 0; i < sizeof meta / sizeof meta[0]; ++i) {
    free (*meta[i]);
    *meta[i] = NULL;
  }
}

/* The first parameter names the script. */
static int
luap_bind_script (const char *path)
{
  char *errmsg = NULL;
  struct luap_req r = { 0 };

  if (preload_path && strcmp (preload_path, path) == 0 && !preloaded) {
    nbdkit_error ("%s", preload_error ? preload_error : "out of memory");
    return -1;
  }
  if (!preloaded || strcmp (preload_path, path) != 0) {
    if (preloaded) {
      nbdkit_debug ("lua: the script is %s, not %s as it seemed from the "
                    "command line: loading it again", path, preload_path);
      luap_closestate (luap_main.L);
      luap_main.L = NULL;
      preloaded = false;
    }
    if (luap_script_read (path, &errmsg) == -1)
      goto err;
    luap_main.L = luap_state_new (&errmsg);
    if (luap_main.L == NULL)
      goto err;
    if (luap_state_run_script (luap_main.L, &errmsg) == -1)
      goto err;
    if (luap_call_void ("load") == -1)
      return -1;
  }
  else if (load_failed)
    return -1;

  if (luap_request (&luap_main, "config", luap_check_required_body, &r) == -1)
    return -1;
  script_bound = true;
  return 0;

 err:
  nbdkit_error ("%s", errmsg ? errmsg : "out of memory");
  free (errmsg);
  return -1;
}

static int
luap_config (const char *key, const char *value)
{
  int r;

  if (!script_bound) {
    if (strcmp (key, "script") == 0 ||
        (meta_magic_config_key && strcmp (key, meta_magic_config_key) == 0))
      return luap_bind_script (value);
    nbdkit_error ("the first parameter must be script=/path/to/script.lua");
    return -1;
  }

  luap_lock (&luap_main);
  r = luap_call_config (luap_main.L, "config", key, value);
  luap_unlock (&luap_main);
  if (r == -1)
    return -1;
  return luap_config_record (key, value);
}

static int
luap_config_complete (void)
{
  int r;

  if (!script_bound) {
    nbdkit_error ("no Lua script was given: use "
                  "nbdkit lua /path/to/script.lua [key=value ...]");
    return -1;
  }
  luap_lock (&luap_main);
  r = luap_call_config_complete (luap_main.L, "config_complete");
  luap_unlock (&luap_main);
  return r;
}

/* Indexed by NBDKIT_THREAD_MODEL_*. */
static const char *const thread_model_names[] = {
  "serialize_connections", "serialize_all_requests",
  "serialize_requests", "parallel", NULL
};

static int
luap_thread_model_body (lua_State *L)
{
  const char *const *names = thread_model_names;
  struct luap_req *r = luap_req_arg (L);
  lua_Integer n;
  size_t i;

  r->ret = NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS;
  if (!luap_push_function (L, "thread_model"))
    return 0;
  lua_call (L, 0, 1);
  if (lua_type (L, -1) == LUA_TSTRING) {
    for (i = 0; names[i]; ++i)
      if (strcmp (lua_tostring (L, -1), names[i]) == 0) {
        r->ret = (int) i;
        return 0;
      }
    return luaL_error (L, "unknown thread model \"%s\"",
                       lua_tostring (L, -1));
  }
  n = luap_check_integer (L, -1, "the thread model");
  if (n < NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS ||
      n > NBDKIT_THREAD_MODEL_PARALLEL)
    return luaL_error (L, "thread model %I is not one of the "
                       "nbdkit.THREAD_MODEL_* constants", n);
  r->ret = (int) n;
  return 0;
}

/* Whether luap_script_thread_model holds the script's answer yet. */
static bool thread_model_known;

static int
luap_thread_model (void)
{
  struct luap_req r = { 0 };

  if (!script_bound)
    return NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS;
  if (luap_request (&luap_main, "thread_model",
                    luap_thread_model_body, &r) == -1)
    return -1;
  luap_script_thread_model = r.ret;
  thread_model_known = true;
  nbdkit_debug ("lua: the script chose the %s thread model: %s",
                thread_model_names[r.ret],
                r.ret >= NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS ?
                "one Lua interpreter per connection" :
                "one Lua interpreter for all connections");
  if (r.ret != NBDKIT_THREAD_MODEL_PARALLEL)
    return r.ret;

  /* Parallel cannot be delivered soundly.  Two requests of one
   * connection could only run at once in two interpreters, but the
   * connection's handle (what open returned) and everything the
   * script keeps for the connection live in one; a Lua state is not
   * thread-safe, so its callbacks run one at a time under its lock.
   * Saying parallel anyway would only make nbdkit's worker threads
   * queue up on that lock (measured: 40% more CPU for the same
   * nbdcopy) while reporting a model the script does not get.  So
   * ask nbdkit for what is provided, and say why: --dump-plugin also
   * shows the model the script asked for (luap_dump_plugin).
   */
  nbdkit_debug ("lua: the script asked for the parallel thread model: "
                "using serialize_requests, because the requests of a "
                "connection all run in that connection's Lua interpreter, "
                "which runs one callback at a time (a Lua state is not "
                "thread-safe, and the connection's handle lives in it); "
                "different connections still run in parallel");
  return NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS;
}

static int
luap_get_ready (void)
{
  return luap_call_void ("get_ready");
}

static int
luap_after_fork (void)
{
  return luap_call_void ("after_fork");
}

static void
luap_cleanup (void)
{
  luap_call_void ("cleanup");
}

static void
luap_dump_plugin (void)
{
  /* thread_model= (printed by nbdkit) is the model nbdkit uses, which
   * is not always the one the script asked for (see
   * luap_thread_model): show that one too.  nbdkit has asked already,
   * but if not, ask now; an error raised there has been logged.
   */
  if (script_bound &&
      (thread_model_known || luap_thread_model () != -1))
    printf ("lua_script_thread_model=%s\n",
            thread_model_names[luap_script_thread_model]);
  printf ("lua_version=%s.%s.%s\n",
          LUA_VERSION_MAJOR, LUA_VERSION_MINOR, LUA_VERSION_RELEASE);
  fflush (stdout);
  if (script_bound)
    luap_call_void ("dump_plugin");
  fflush (stdout);
}

static int
luap_preconnect_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (luap_push_function (L, "preconnect")) {
    lua_pushboolean (L, r->flag);
    lua_call (L, 1, 0);
  }
  return 0;
}

static int
luap_preconnect (int readonly)
{
  struct luap_req r = { .flag = readonly };

  return luap_request (&luap_main, "preconnect", luap_preconnect_body, &r);
}

/* list_exports (readonly, is_tls) returns a list whose entries are
 * names, or {name, description} / {name = ..., description = ...}.
 */
static int
luap_list_exports_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);
  lua_Integer i, n;

  if (!luap_push_function (L, "list_exports")) {
    r->ret = nbdkit_use_default_export (r->exports);
    return 0;
  }
  lua_pushboolean (L, r->flag);
  lua_pushboolean (L, r->is_tls);
  lua_call (L, 2, 1);
  if (!lua_istable (L, -1))
    return luaL_error (L, "return value must be a table (a list of "
                       "exports), not %s", luaL_typename (L, -1));
  n = (lua_Integer) lua_rawlen (L, -1);
  for (i = 1; i <= n; ++i) {
    const char *name, *desc = NULL;

    lua_rawgeti (L, -1, i);
    if (lua_type (L, -1) == LUA_TSTRING)
      name = lua_tostring (L, -1);
    else if (lua_istable (L, -1)) {
      if (lua_rawgeti (L, -1, 1) == LUA_TNIL) {
        lua_pop (L, 1);
        lua_getfield (L, -1, "name");
      }
      if (lua_rawgeti (L, -2, 2) == LUA_TNIL) {
        lua_pop (L, 1);
        lua_getfield (L, -2, "description");
      }
      if (lua_type (L, -2) != LUA_TSTRING)
        return luaL_error (L, "export %I: the name must be a string, not %s",
                           i, luaL_typename (L, -2));
      if (!lua_isnil (L, -1) && lua_type (L, -1) != LUA_TSTRING)
        return luaL_error (L, "export %I: the description must be a "
                           "string, not %s", i, luaL_typename (L, -1));
      name = lua_tostring (L, -2);
      desc = lua_tostring (L, -1);
    }
    else
      return luaL_error (L, "export %I must be a string or a table, not %s",
                         i, luaL_typename (L, -1));
    if (nbdkit_add_export (r->exports, name, desc) == -1) {
      r->ret = -1;
      return 0;
    }
    lua_settop (L, 2);
  }
  return 0;
}

static int
luap_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  struct luap_req r = { .flag = readonly, .is_tls = is_tls,
                        .exports = exports };

  return luap_request (&luap_main, "list_exports",
                       luap_list_exports_body, &r);
}

static int
luap_default_export_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (!luap_push_function (L, "default_export")) {
    r->str = "";
    return 0;
  }
  lua_pushboolean (L, r->flag);
  lua_pushboolean (L, r->is_tls);
  lua_call (L, 2, 1);
  if (lua_type (L, -1) != LUA_TSTRING)
    return luaL_error (L, "return value must be a string, not %s",
                       luaL_typename (L, -1));
  r->str = nbdkit_strdup_intern (lua_tostring (L, -1));
  if (r->str == NULL)
    r->ret = -1;
  return 0;
}

static const char *
luap_default_export (int readonly, int is_tls)
{
  struct luap_req r = { .flag = readonly, .is_tls = is_tls };

  if (luap_request (&luap_main, "default_export",
                    luap_default_export_body, &r) == -1)
    return NULL;
  return r.str;
}

static struct nbdkit_plugin plugin = {
  .name               = "lua",
  .version            = PACKAGE_VERSION,
  .load               = luap_load,
  .unload             = luap_unload,
  .config             = luap_config,
  .config_complete    = luap_config_complete,
  .config_help        = DEFAULT_CONFIG_HELP,
  .thread_model       = luap_thread_model,
  .get_ready          = luap_get_ready,
  .after_fork         = luap_after_fork,
  .cleanup            = luap_cleanup,
  .dump_plugin        = luap_dump_plugin,
  .preconnect         = luap_preconnect,
  .list_exports       = luap_list_exports,
  .default_export     = luap_default_export,
  .open               = luap_open,
  .close              = luap_close,
  .export_description = luap_export_description,
  .get_size           = luap_get_size,
  .block_size         = luap_block_size,
  .can_write          = luap_can_write,
  .can_flush          = luap_can_flush,
  .is_rotational      = luap_is_rotational,
  .can_trim           = luap_can_trim,
  .can_zero           = luap_can_zero,
  .can_fast_zero      = luap_can_fast_zero,
  .can_extents        = luap_can_extents,
  .can_fua            = luap_can_fua,
  .can_multi_conn     = luap_can_multi_conn,
  .can_cache          = luap_can_cache,
  .pread              = luap_pread,
  .pwrite             = luap_pwrite,
  .flush              = luap_flush,
  .trim               = luap_trim,
  .zero               = luap_zero,
  .extents            = luap_extents,
  .cache              = luap_cache,
  .errno_is_preserved = 0,
};

/* Written out rather than NBDKIT_REGISTER_PLUGIN so that the script
 * can be loaded first (see luap-cmdline.c).  The three private fields
 * are set exactly as the macro does.
 */
NBDKIT_DLL_PUBLIC struct nbdkit_plugin *plugin_init (void);

NBDKIT_DLL_PUBLIC struct nbdkit_plugin *
plugin_init (void)
{
  luap_preload (&plugin);
  plugin._struct_size = sizeof (plugin);
  plugin._api_version = NBDKIT_API_VERSION;
  plugin._thread_model = THREAD_MODEL;
  return &plugin;
}
