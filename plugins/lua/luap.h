/* luap.h: internal interface of the nbdkit Lua plugin.
 *
 * The plugin is split by concern:
 *
 *   lua.c           the struct nbdkit_plugin, plugin_init, and the
 *                   callbacks not tied to a connection (start-up,
 *                   configuration, shut-down, preconnect, exports)
 *   luap-data.c     the per-connection callbacks, open to close
 *   luap-call.c     running one callback in protected mode, and
 *                   checking what the script returned
 *   luap-interp.c   Lua states: creating them, loading the script,
 *                   protected calls and error reporting, the recorded
 *                   configuration replayed into per-connection states
 *   luap-alloc.c    the allocator of our Lua states
 *   luap-module.c   the "nbdkit" module seen by scripts
 *   luap-cmdline.c  finding the script on the server's command line
 *                   so it can be loaded before plugin_init returns
 *
 * Every internal name starts with luap_.
 */

#ifndef NBDKIT_LUAP_H
#define NBDKIT_LUAP_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

/* Registry key of the base library's "load" function. */
#define LUAP_STDLIB_LOAD "nbdkit-lua.stdlib-load"

/* One Lua interpreter.  A lua_State is single-threaded, so every use
 * of L happens with lock held.  There is always a main interpreter;
 * when the script chooses a thread model looser than
 * serialize_all_requests each connection also gets its own.
 */
struct luap_interp {
  lua_State *L;
  pthread_mutex_t lock;
  bool per_connection;          /* created by .open, destroyed by .close */
};

/* The script, read once.  Every interpreter is loaded from this copy
 * of the text (not from the file), so all of them run the same code
 * and the path still works after the server changes directory.
 */
struct luap_script {
  char *path;                   /* as given on the command line */
  char *text;                   /* file contents */
  size_t len;
};

/* What .open returns. */
struct luap_handle {
  struct luap_interp *interp;   /* luap_main or the connection's own */
  int ref;                      /* the script's handle in interp's registry */
};

/* Arguments and results of one callback, passed to its protected body
 * as a light userdata.
 */
struct luap_req {
  struct luap_handle *h;
  const char *fn;               /* Lua function to call */
  const char *dflt_fn;          /* can_*: default is "is dflt_fn defined?" */
  int dflt;                     /* can_*: default when dflt_fn is NULL */
  void *buf;
  uint32_t count;
  uint64_t offset;
  uint32_t flags;
  bool flag;                    /* readonly */
  bool is_tls;
  struct nbdkit_extents *extents;
  struct nbdkit_exports *exports;
  /* results */
  int ret;                      /* -1 = failed, message already logged */
  int ref;
  int64_t size;
  const char *str;
  uint32_t minimum, preferred, maximum;
};

/* luap-call.c */
extern void luap_lock (struct luap_interp *interp);
extern void luap_unlock (struct luap_interp *interp);
extern int luap_request (struct luap_interp *interp, const char *method,
                         lua_CFunction body, struct luap_req *r);
extern struct luap_req *luap_req_arg (lua_State *L);
extern void luap_push_handle (lua_State *L, struct luap_req *r);
extern void luap_need_function (lua_State *L, struct luap_req *r);
extern lua_Integer luap_check_integer (lua_State *L, int idx,
                                       const char *what);
extern bool luap_check_boolean (lua_State *L, int idx);
extern int luap_check_tristate (lua_State *L, int idx);

/* lua.c: the model the script's thread_model() chose. */
extern int luap_script_thread_model;

/* luap-data.c: the per-connection callbacks, for the plugin struct. */
extern void *luap_open (int readonly);
extern void luap_close (void *handle);
extern int64_t luap_get_size (void *handle);
extern const char *luap_export_description (void *handle);
extern int luap_block_size (void *handle, uint32_t *minimum,
                            uint32_t *preferred, uint32_t *maximum);
extern int luap_can_write (void *handle);
extern int luap_can_flush (void *handle);
extern int luap_is_rotational (void *handle);
extern int luap_can_trim (void *handle);
extern int luap_can_zero (void *handle);
extern int luap_can_fast_zero (void *handle);
extern int luap_can_multi_conn (void *handle);
extern int luap_can_extents (void *handle);
extern int luap_can_fua (void *handle);
extern int luap_can_cache (void *handle);
extern int luap_pread (void *handle, void *buf, uint32_t count,
                       uint64_t offset, uint32_t flags);
extern int luap_pwrite (void *handle, const void *buf, uint32_t count,
                        uint64_t offset, uint32_t flags);
extern int luap_flush (void *handle, uint32_t flags);
extern int luap_trim (void *handle, uint32_t count, uint64_t offset,
                      uint32_t flags);
extern int luap_cache (void *handle, uint32_t count, uint64_t offset,
                       uint32_t flags);
extern int luap_zero (void *handle, uint32_t count, uint64_t offset,
                      uint32_t flags);
extern int luap_extents (void *handle, uint32_t count, uint64_t offset,
                         uint32_t flags, struct nbdkit_extents *extents);

/* luap-interp.c */
extern struct luap_interp luap_main;
extern struct luap_script luap_script;

extern int luap_script_read (const char *path, char **errmsg);
extern void luap_script_free (void);
extern lua_State *luap_state_new (char **errmsg);
extern int luap_state_run_script (lua_State *L, char **errmsg);
extern int luap_pcall_capture (lua_State *L, lua_CFunction body, void *data,
                               char **errmsg);
extern int luap_pcall (lua_State *L, const char *method,
                       lua_CFunction body, void *data);
extern int luap_interp_init (struct luap_interp *interp, lua_State *L,
                             bool per_connection);
extern void luap_interp_destroy (struct luap_interp *interp);
extern struct luap_interp *luap_interp_new_connection (void);
extern int luap_call_config (lua_State *L, const char *method,
                             const char *key, const char *value);
extern int luap_call_config_complete (lua_State *L, const char *method);
extern int luap_config_record (const char *key, const char *value);
extern void luap_config_free (void);
extern void luap_remember_cwd (void);
extern const char *luap_cwd (void);

/* Helpers for protected bodies (they may raise Lua errors). */
extern bool luap_push_function (lua_State *L, const char *name);
extern bool luap_is_defined (lua_State *L, const char *name);
extern char *luap_format (const char *fs, ...)
  __attribute__ ((__format__ (__printf__, 1, 2)));

/* luap-alloc.c */
extern lua_State *luap_newstate (void);
extern void luap_closestate (lua_State *L);

/* luap-module.c */
extern int luap_open_module (lua_State *L);
extern int luap_errno_by_name (const char *name);

/* luap-cmdline.c */
extern char *luap_cmdline_script (void);

#endif /* NBDKIT_LUAP_H */
