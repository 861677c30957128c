/* luap-interp.c: Lua interpreters for the nbdkit Lua plugin.
 *
 * Creating states, loading the script into them, calling Lua safely,
 * and the configuration that is replayed into per-connection states.
 *
 * Calling into Lua: a Lua error is a longjmp to the innermost
 * lua_pcall, or an abort if there is none.  So nothing here touches a
 * lua_State outside a protected call except to set that call up:
 * luap_pcall pushes a message handler, a C "body" function and a
 * light userdata (none of which allocates), and everything else --
 * looking up globals, pushing arguments, calling the script, checking
 * and converting results -- happens inside the body.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luap.h"

struct luap_interp luap_main = {
  .L = NULL,
  .lock = PTHREAD_MUTEX_INITIALIZER,
  .per_connection = false,
};

struct luap_script luap_script;

/* Registry key under which the message handler leaves a traceback. */
#define TRACEBACK_KEY "nbdkit-lua.traceback"

static char *
luap_vformat (const char *fs, va_list args)
{
  char *s;

  if (vasprintf (&s, fs, args) == -1)
    return NULL;
  return s;
}

char *
luap_format (const char *fs, ...)
{
  va_list args;
  char *s;

  va_start (args, fs);
  s = luap_vformat (fs, args);
  va_end (args);
  return s;
}

/* The directory the server was started in.  Per-connection
 * interpreters replay the configuration after the server may have
 * changed to "/", so nbdkit.absolute_path resolves against this.
 */
static char *start_cwd;

void
luap_remember_cwd (void)
{
  if (start_cwd == NULL)
    start_cwd = getcwd (NULL, 0);
}

const char *
luap_cwd (void)
{
  return start_cwd;
}

/*----------------------------------------------------------------------
 * The script text.
 */

int
luap_script_read (const char *path, char **errmsg)
{
  FILE *fp;
  char *text = NULL;
  size_t len = 0, cap = 0;

  *errmsg = NULL;
  fp = fopen (path, "r");
  if (fp == NULL) {
    *errmsg = luap_format ("could not open Lua script %s: %s",
                           path, strerror (errno));
    return -1;
  }
  for (;;) {
    size_t n;

    if (cap - len < 4096) {
      size_t ncap = cap ? cap * 2 : 65536;
      char *p = realloc (text, ncap);
      if (p == NULL) {
        *errmsg = luap_format ("realloc: %s", strerror (errno));
        goto err;
      }
      text = p;
      cap = ncap;
    }
    n = fread (text + len, 1, cap - len, fp);
    len += n;
    if (n == 0) {
      if (ferror (fp)) {
        *errmsg = luap_format ("could not read Lua script %s: %s",
                               path, strerror (errno));
        goto err;
      }
      break;
    }
  }
  fclose (fp);
  fp = NULL;

  free (luap_script.path);
  free (luap_script.text);
  luap_script.path = strdup (path);
  if (luap_script.path == NULL) {
    *errmsg = luap_format ("strdup: %s", strerror (errno));
    luap_script.text = NULL;
    goto err;
  }
  luap_script.text = text;
  luap_script.len = len;
  return 0;

 err:
  if (fp)
    fclose (fp);
  free (text);
  return -1;
}

void
luap_script_free (void)
{
  free (luap_script.path);
  free (luap_script.text);
  luap_script.path = luap_script.text = NULL;
  luap_script.len = 0;
}

/*----------------------------------------------------------------------
 * Protected calls.
 */

/* Push "source:line: " for the innermost Lua function on the stack
 * (the one that raised the error), or "" if there is none.
 */
static void
luap_push_where (lua_State *L)
{
  lua_Debug ar;
  int level;

  for (level = 1; lua_getstack (L, level, &ar); ++level) {
    if (lua_getinfo (L, "Sl", &ar) && ar.currentline > 0) {
      lua_pushfstring (L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral (L, "");
}

/* Message handler: turn any error object into a string, so that
 * tables, nil and userdata errors are still reported (with the place
 * they were raised, which Lua only adds to strings), and leave a
 * traceback in the registry for the debug log.
 */
static int
luap_message_handler (lua_State *L)
{
  const char *msg = NULL;

  if (lua_type (L, 1) == LUA_TSTRING || lua_type (L, 1) == LUA_TNUMBER)
    msg = lua_tostring (L, 1);
  else {
    luap_push_where (L);
    if (luaL_callmeta (L, 1, "__tostring")) {
      if (lua_type (L, -1) != LUA_TSTRING) {
        lua_pop (L, 1);
        lua_pushfstring (L, "(error object is a %s value whose "
                         "__tostring did not return a string)",
                         luaL_typename (L, 1));
      }
    }
    else
      lua_pushfstring (L, "(error object is a %s value)",
                       luaL_typename (L, 1));
    lua_concat (L, 2);
    msg = lua_tostring (L, -1);
  }

  luaL_traceback (L, L, NULL, 1);
  lua_setfield (L, LUA_REGISTRYINDEX, TRACEBACK_KEY);
  lua_pushstring (L, msg);
  return 1;
}

/* Protected body: send the traceback to the debug log and clear it. */
static int
luap_take_traceback (lua_State *L)
{
  const char *tb;

  lua_getfield (L, LUA_REGISTRYINDEX, TRACEBACK_KEY);
  tb = lua_tostring (L, -1);
  if (tb != NULL)
    nbdkit_debug ("lua traceback: %s", tb);
  lua_pushnil (L);
  lua_setfield (L, LUA_REGISTRYINDEX, TRACEBACK_KEY);
  return 0;
}

/* Run body(data) in protected mode.  On error, return -1 and set
 * *errmsg to the message (malloc'd; NULL if even that failed).  The
 * stack is left as it was.
 */
int
luap_pcall_capture (lua_State *L, lua_CFunction body, void *data,
                    char **errmsg)
{
  const char *msg;

  *errmsg = NULL;
  lua_pushcfunction (L, luap_message_handler);
  lua_pushcfunction (L, body);
  lua_pushlightuserdata (L, data);
  if (lua_pcall (L, 1, 0, -3) == LUA_OK) {
    lua_pop (L, 1);
    return 0;
  }
  msg = lua_tostring (L, -1);
  *errmsg = strdup (msg ? msg : "unknown Lua error");
  lua_pop (L, 2);
  /* Only the message handler sets a traceback (a memory error skips
   * it).  A failure here is ignored: the error is reported anyway.
   */
  lua_pushcfunction (L, luap_take_traceback);
  if (lua_pcall (L, 0, 0, 0) != LUA_OK)
    lua_pop (L, 1);
  return -1;
}

/* Run body(data) in protected mode.  On error, log it as
 * "METHOD: message" and return -1.
 */
int
luap_pcall (lua_State *L, const char *method, lua_CFunction body, void *data)
{
  char *msg;

  if (luap_pcall_capture (L, body, data, &msg) == 0)
    return 0;
  nbdkit_error ("%s: %s", method, msg ? msg : "out of memory");
  free (msg);
  return -1;
}

static bool
luap_is_callable (lua_State *L, int idx)
{
  if (lua_isfunction (L, idx))
    return true;
  if (luaL_getmetafield (L, idx, "__call") != LUA_TNIL) {
    lua_pop (L, 1);
    return true;
  }
  return false;
}

/* Push the global NAME if it is something that can be called and
 * return true; otherwise push nothing and return false.  The lookup
 * is raw: a script that traps undefined globals (strict mode) is not
 * consulted about which callbacks exist.
 */
bool
luap_push_function (lua_State *L, const char *name)
{
  lua_rawgeti (L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_pushstring (L, name);
  lua_rawget (L, -2);
  lua_remove (L, -2);
  if (luap_is_callable (L, -1))
    return true;
  lua_pop (L, 1);
  return false;
}

bool
luap_is_defined (lua_State *L, const char *name)
{
  if (!luap_push_function (L, name))
    return false;
  lua_pop (L, 1);
  return true;
}

/*----------------------------------------------------------------------
 * States.
 */

static int
luap_open_libraries (lua_State *L)
{
  luaL_openlibs (L);
  luaL_requiref (L, "nbdkit", luap_open_module, 1);
  lua_pop (L, 1);
  /* Remember the base library's load, to tell it from a script's. */
  lua_rawgeti (L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_getfield (L, -1, "load");
  lua_setfield (L, LUA_REGISTRYINDEX, LUAP_STDLIB_LOAD);
  lua_pop (L, 1);
  return 0;
}

/* A new state with the standard libraries and the nbdkit module. */
lua_State *
luap_state_new (char **errmsg)
{
  lua_State *L;
  char *msg;

  *errmsg = NULL;
  L = luap_newstate ();
  if (L == NULL) {
    *errmsg = luap_format ("could not create Lua interpreter: %s",
                           strerror (errno ? errno : ENOMEM));
    return NULL;
  }
  if (luap_pcall_capture (L, luap_open_libraries, NULL, &msg) == -1) {
    luap_closestate (L);
    *errmsg = luap_format ("could not open the Lua standard libraries: %s",
                           msg ? msg : "out of memory");
    free (msg);
    return NULL;
  }
  return L;
}

/* Where Lua should start parsing: after a UTF-8 byte order mark, and
 * after a first line starting with '#' (a shebang), but keeping that
 * line's newline so that line numbers in messages stay right.  This is
 * what the stand-alone lua interpreter does with files.
 */
static size_t
luap_script_start (void)
{
  const char *t = luap_script.text;
  size_t len = luap_script.len, i = 0;

  if (len >= 3 && memcmp (t, "\xef\xbb\xbf", 3) == 0)
    i = 3;
  if (i < len && t[i] == '#') {
    const char *nl = memchr (t + i, '\n', len - i);
    if (nl == NULL)
      return len;
    i = nl - t;
    /* A precompiled chunk after the comment must start exactly. */
    if (i + 1 < len && t[i + 1] == LUA_SIGNATURE[0])
      i++;
  }
  return i;
}

struct luap_run {
  const char *chunkname;
  size_t start;
  int status;                   /* of luaL_loadbufferx */
};

static int
luap_run_body (lua_State *L)
{
  struct luap_run *run = lua_touserdata (L, 1);

  run->status = luaL_loadbufferx (L, luap_script.text + run->start,
                                  luap_script.len - run->start,
                                  run->chunkname, NULL);
  if (run->status != LUA_OK)
    return lua_error (L);
  lua_call (L, 0, 0);
  return 0;
}

/* Load the script into L and run its top level statements. */
int
luap_state_run_script (lua_State *L, char **errmsg)
{
  struct luap_run run;
  char *chunkname, *msg;

  *errmsg = NULL;
  chunkname = luap_format ("@%s", luap_script.path);
  if (chunkname == NULL) {
    *errmsg = luap_format ("asprintf: %s", strerror (errno));
    return -1;
  }
  run.chunkname = chunkname;
  run.start = luap_script_start ();
  run.status = -1;
  if (luap_pcall_capture (L, luap_run_body, &run, &msg) == -1) {
    *errmsg = luap_format ("could not %s Lua script: %s",
                           run.status > LUA_OK ? "parse" : "run",
                           msg ? msg : "out of memory");
    free (msg);
    free (chunkname);
    return -1;
  }
  free (chunkname);
  return 0;
}

int
luap_interp_init (struct luap_interp *interp, lua_State *L,
                  bool per_connection)
{
  int err;

  err = pthread_mutex_init (&interp->lock, NULL);
  if (err != 0) {
    errno = err;
    nbdkit_error ("pthread_mutex_init: %m");
    return -1;
  }
  interp->L = L;
  interp->per_connection = per_connection;
  return 0;
}

void
luap_interp_destroy (struct luap_interp *interp)
{
  luap_closestate (interp->L);
  interp->L = NULL;
  pthread_mutex_destroy (&interp->lock);
}

/*----------------------------------------------------------------------
 * Configuration, recorded for replay.
 */

struct luap_config_item {
  char *key;
  char *value;
};

static struct luap_config_item *config_items;
static size_t config_len, config_cap;

int
luap_config_record (const char *key, const char *value)
{
  struct luap_config_item item;

  if (config_len == config_cap) {
    size_t ncap = config_cap ? config_cap * 2 : 16;
    struct luap_config_item *p;

    p = realloc (config_items, ncap * sizeof *p);
    if (p == NULL) {
      nbdkit_error ("realloc: %m");
      return -1;
    }
    config_items = p;
    config_cap = ncap;
  }
  item.key = strdup (key);
  item.value = strdup (value);
  if (item.key == NULL || item.value == NULL) {
    nbdkit_error ("strdup: %m");
    free (item.key);
    free (item.value);
    return -1;
  }
  config_items[config_len++] = item;
  return 0;
}

void
luap_config_free (void)
{
  size_t i;

  for (i = 0; i < config_len; ++i) {
    free (config_items[i].key);
    free (config_items[i].value);
  }
  free (config_items);
  config_items = NULL;
  config_len = config_cap = 0;
}

struct luap_config_call {
  const char *key, *value;
};

static int
luap_config_body (lua_State *L)
{
  struct luap_config_call *c = lua_touserdata (L, 1);

  if (!luap_push_function (L, "config"))
    return luaL_error (L, "%s: this script does not define a config "
                       "function, so it takes no parameters (got %s=%s)",
                       luap_script.path, c->key, c->value);
  lua_pushstring (L, c->key);
  lua_pushstring (L, c->value);
  lua_call (L, 2, 0);
  return 0;
}

int
luap_call_config (lua_State *L, const char *method,
                  const char *key, const char *value)
{
  struct luap_config_call c = { .key = key, .value = value };

  return luap_pcall (L, method, luap_config_body, &c);
}

static int
luap_config_complete_body (lua_State *L)
{
  if (luap_push_function (L, "config_complete"))
    lua_call (L, 0, 0);
  return 0;
}

int
luap_call_config_complete (lua_State *L, const char *method)
{
  return luap_pcall (L, method, luap_config_complete_body, NULL);
}

/* A connection's own interpreter, brought to the state the main
 * interpreter reached before serving: the top level statements run,
 * then config for each recorded key=value, then config_complete.
 */
struct luap_interp *
luap_interp_new_connection (void)
{
  struct luap_interp *interp;
  lua_State *L;
  char *errmsg;
  size_t i;

  interp = calloc (1, sizeof *interp);
  if (interp == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  L = luap_state_new (&errmsg);
  if (L == NULL) {
    nbdkit_error ("open: %s", errmsg ? errmsg : "out of memory");
    free (errmsg);
    free (interp);
    return NULL;
  }
  if (luap_interp_init (interp, L, true) == -1) {
    luap_closestate (L);
    free (interp);
    return NULL;
  }

  if (luap_state_run_script (L, &errmsg) == -1) {
    nbdkit_error ("open: loading the script into this connection's "
                  "interpreter: %s", errmsg ? errmsg : "out of memory");
    free (errmsg);
    goto err;
  }
  for (i = 0; i < config_len; ++i) {
    if (luap_call_config (L, "open: replaying config",
                          config_items[i].key, config_items[i].value) == -1)
      goto err;
  }
  if (luap_call_config_complete (L, "open: replaying config_complete") == -1)
    goto err;
  return interp;

 err:
  luap_interp_destroy (interp);
  free (interp);
  return NULL;
}
