/* luap-module.c: the "nbdkit" module seen by Lua scripts.
 *
 * It is preloaded into every interpreter, both as the global "nbdkit"
 * and as package.loaded.nbdkit (so "local nbdkit = require 'nbdkit'"
 * works too).  Functions here run inside protected calls, so they
 * report misuse with luaL_error; they never hold C resources across
 * a call that can raise.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "luap.h"

/* nbdkit_disconnect first appeared in nbdkit 1.34.  Reference it
 * weakly so the plugin still loads into older servers; the Lua
 * function then raises an error.
 */
#pragma weak nbdkit_disconnect

/*----------------------------------------------------------------------
 * errno names for nbdkit.set_error ("ENOSPC" as well as 28).
 */

struct luap_errno_name {
  const char *name;
  int value;
};

#define E(e) { #e, e }
static const struct luap_errno_name errno_names[] = {
  E (EPERM), E (ENOENT), E (ESRCH), E (EINTR), E (EIO), E (ENXIO),
  E (E2BIG), E (ENOEXEC), E (EBADF), E (ECHILD), E (EAGAIN), E (ENOMEM),
  E (EACCES), E (EFAULT), E (EBUSY), E (EEXIST), E (EXDEV), E (ENODEV),
  E (ENOTDIR), E (EISDIR), E (EINVAL), E (ENFILE), E (EMFILE), E (ENOTTY),
  E (ETXTBSY), E (EFBIG), E (ENOSPC), E (ESPIPE), E (EROFS), E (EMLINK),
  E (EPIPE), E (EDOM), E (ERANGE), E (EDEADLK), E (ENAMETOOLONG),
  E (ENOLCK), E (ENOSYS), E (ENOTEMPTY), E (ELOOP), E (EWOULDBLOCK),
  E (ENOMSG), E (EIDRM), E (ENOSTR), E (ENODATA), E (ETIME), E (ENOSR),
  E (ENOLINK), E (EPROTO), E (EBADMSG), E (EOVERFLOW), E (EILSEQ),
  E (EUSERS), E (ENOTSOCK), E (EDESTADDRREQ), E (EMSGSIZE), E (EPROTOTYPE),
  E (ENOPROTOOPT), E (EPROTONOSUPPORT), E (ENOTSUP), E (EOPNOTSUPP),
  E (EAFNOSUPPORT), E (EADDRINUSE), E (EADDRNOTAVAIL), E (ENETDOWN),
  E (ENETUNREACH), E (ENETRESET), E (ECONNABORTED), E (ECONNRESET),
  E (ENOBUFS), E (EISCONN), E (ENOTCONN), E (ESHUTDOWN), E (ETIMEDOUT),
  E (ECONNREFUSED), E (EHOSTDOWN), E (EHOSTUNREACH), E (EALREADY),
  E (EINPROGRESS), E (ESTALE), E (EDQUOT), E (ECANCELED),
#ifdef ENOMEDIUM
  E (ENOMEDIUM), E (EMEDIUMTYPE),
#endif
#ifdef EOWNERDEAD
  E (EOWNERDEAD), E (ENOTRECOVERABLE),
#endif
#ifdef ENOTBLK
  E (ENOTBLK),
#endif
#ifdef EREMOTEIO
  E (EREMOTEIO),
#endif
};
#undef E

/* errno value for NAME, or -1. */
int
luap_errno_by_name (const char *name)
{
  size_t i;

  for (i = 0; i < sizeof errno_names / sizeof errno_names[0]; ++i)
    if (strcmp (errno_names[i].name, name) == 0)
      return errno_names[i].value;
  return -1;
}

/*----------------------------------------------------------------------
 * Functions.
 */

/* nbdkit.set_error (err): err is an errno number or name. */
static int
mod_set_error (lua_State *L)
{
  int err;

  switch (lua_type (L, 1)) {
  case LUA_TNUMBER: {
    lua_Integer n = luaL_checkinteger (L, 1);
    if (n < 0 || n > 0xffff)
      return luaL_argerror (L, 1, "errno value out of range");
    err = (int) n;
    break;
  }
  case LUA_TSTRING:
    err = luap_errno_by_name (lua_tostring (L, 1));
    if (err == -1)
      return luaL_error (L, "set_error: unknown errno name '%s'",
                         lua_tostring (L, 1));
    break;
  default:
    return luaL_typeerror (L, 1, "errno number or name");
  }
  nbdkit_set_error (err);
  return 0;
}

/* nbdkit.debug (msg) or nbdkit.debug (fmt, ...) as string.format. */
static int
mod_debug (lua_State *L)
{
  const char *msg;

  if (lua_gettop (L) > 1) {
    luaL_getsubtable (L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield (L, -1, "string");
    if (lua_type (L, -1) != LUA_TTABLE)
      return luaL_error (L, "debug: the string library is not loaded");
    lua_getfield (L, -1, "format");
    lua_replace (L, -3);
    lua_pop (L, 1);
    lua_insert (L, 1);
    lua_call (L, lua_gettop (L) - 1, 1);
  }
  msg = luaL_tolstring (L, 1, NULL);
  nbdkit_debug ("%s", msg);
  return 0;
}

static int
mod_export_name (lua_State *L)
{
  const char *name = nbdkit_export_name ();

  if (name == NULL)
    return luaL_error (L, "export_name: no export name "
                       "(not called while serving a client?)");
  lua_pushstring (L, name);
  return 1;
}

static int
mod_parse_size (lua_State *L)
{
  const char *s = luaL_checkstring (L, 1);
  int64_t r = nbdkit_parse_size (s);

  if (r == -1)
    return luaL_error (L, "parse_size: cannot parse size '%s'", s);
  lua_pushinteger (L, r);
  return 1;
}

static int
mod_parse_bool (lua_State *L)
{
  const char *s = luaL_checkstring (L, 1);
  int r = nbdkit_parse_bool (s);

  if (r == -1)
    return luaL_error (L, "parse_bool: cannot parse boolean '%s'", s);
  lua_pushboolean (L, r);
  return 1;
}

static int
mod_is_tls (lua_State *L)
{
  int r = nbdkit_is_tls ();

  if (r == -1)
    return luaL_error (L, "is_tls: not called while serving a client");
  lua_pushboolean (L, r);
  return 1;
}

static int
mod_stdio_safe (lua_State *L)
{
  lua_pushboolean (L, nbdkit_stdio_safe ());
  return 1;
}

/* nbdkit.peer_name () returns a table describing the client's address:
 *   { family = "unix", path = "/path/or/empty" }
 *   { family = "inet" or "inet6", address = "192.0.2.1", port = 1234 }
 *   { family = N } for other address families.
 */
static int
mod_peer_name (lua_State *L)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char addr[INET6_ADDRSTRLEN];

  memset (&ss, 0, sizeof ss);
  if (nbdkit_peer_name ((struct sockaddr *) &ss, &len) == -1)
    return luaL_error (L, "peer_name: cannot get the client's address");

  lua_createtable (L, 0, 3);
  switch (ss.ss_family) {
  case AF_UNIX: {
    const struct sockaddr_un *sun = (const struct sockaddr_un *) &ss;
    size_t off = offsetof (struct sockaddr_un, sun_path);
    size_t n = len > off ? len - off : 0;

    if (n > sizeof sun->sun_path)
      n = sizeof sun->sun_path;
    /* Unnamed sockets have no path; pathnames are NUL-terminated. */
    if (n > 0 && sun->sun_path[0] != '\0')
      n = strnlen (sun->sun_path, n);
    lua_pushliteral (L, "unix");
    lua_setfield (L, -2, "family");
    lua_pushlstring (L, sun->sun_path, n);
    lua_setfield (L, -2, "path");
    break;
  }
  case AF_INET: {
    const struct sockaddr_in *sin = (const struct sockaddr_in *) &ss;

    if (inet_ntop (AF_INET, &sin->sin_addr, addr, sizeof addr) == NULL)
      return luaL_error (L, "peer_name: inet_ntop: %s", strerror (errno));
    lua_pushliteral (L, "inet");
    lua_setfield (L, -2, "family");
    lua_pushstring (L, addr);
    lua_setfield (L, -2, "address");
    lua_pushinteger (L, ntohs (sin->sin_port));
    lua_setfield (L, -2, "port");
    break;
  }
  case AF_INET6: {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &ss;

    if (inet_ntop (AF_INET6, &sin6->sin6_addr, addr, sizeof addr) == NULL)
      return luaL_error (L, "peer_name: inet_ntop: %s", strerror (errno));
    lua_pushliteral (L, "inet6");
    lua_setfield (L, -2, "family");
    lua_pushstring (L, addr);
    lua_setfield (L, -2, "address");
    lua_pushinteger (L, ntohs (sin6->sin6_port));
    lua_setfield (L, -2, "port");
    break;
  }
  default:
    lua_pushinteger (L, ss.ss_family);
    lua_setfield (L, -2, "family");
  }
  return 1;
}

static int
push_peer_id (lua_State *L, int64_t r, const char *what)
{
  if (r == -1)
    return luaL_error (L, "peer_%s: not available for this client "
                       "(only Unix domain socket clients have one)", what);
  lua_pushinteger (L, r);
  return 1;
}

static int
mod_peer_pid (lua_State *L)
{
  return push_peer_id (L, nbdkit_peer_pid (), "pid");
}

static int
mod_peer_uid (lua_State *L)
{
  return push_peer_id (L, nbdkit_peer_uid (), "uid");
}

static int
mod_peer_gid (lua_State *L)
{
  return push_peer_id (L, nbdkit_peer_gid (), "gid");
}

static int
mod_shutdown (lua_State *L)
{
  nbdkit_shutdown ();
  return 0;
}

/* nbdkit.disconnect ([force]): force is a boolean, default false. */
static int
mod_disconnect (lua_State *L)
{
  int force = lua_toboolean (L, 1);

  if (nbdkit_disconnect == NULL)
    return luaL_error (L, "disconnect: this nbdkit server does not support "
                       "nbdkit_disconnect (it needs nbdkit >= 1.34)");
  nbdkit_disconnect (force);
  return 0;
}

/* nbdkit.nanosleep (sec [, nsec]): sleep, waking early (with an
 * error) if the server is shutting down or the client went away.
 */
static int
mod_nanosleep (lua_State *L)
{
  lua_Integer sec = luaL_checkinteger (L, 1);
  lua_Integer nsec = luaL_optinteger (L, 2, 0);

  luaL_argcheck (L, sec >= 0 && sec <= 0xffffffffLL, 1, "out of range");
  luaL_argcheck (L, nsec >= 0 && nsec < 1000000000, 2, "out of range");
  if (nbdkit_nanosleep ((unsigned) sec, (unsigned) nsec) == -1)
    return luaL_error (L, "nanosleep: interrupted: %s", strerror (errno));
  return 0;
}

/* nbdkit.absolute_path (path): PATH made absolute against the
 * directory nbdkit was started in (not the current directory, which
 * may be "/" once the server has forked into the background).
 */
static int
mod_absolute_path (lua_State *L)
{
  size_t len;
  const char *path = luaL_checklstring (L, 1, &len);
  const char *cwd = luap_cwd ();

  if (len == 0)
    return luaL_argerror (L, 1, "empty path");
  if (path[0] == '/') {
    lua_settop (L, 1);
    return 1;
  }
  if (cwd == NULL)
    return luaL_error (L, "absolute_path: the start directory is unknown");
  lua_pushstring (L, cwd);
  if (strcmp (cwd, "/") != 0)
    lua_pushliteral (L, "/");
  else
    lua_pushliteral (L, "");
  lua_pushvalue (L, 1);
  lua_concat (L, 3);
  return 1;
}

static const luaL_Reg module_functions[] = {
  { "set_error", mod_set_error },
  { "debug", mod_debug },
  { "export_name", mod_export_name },
  { "parse_size", mod_parse_size },
  { "parse_bool", mod_parse_bool },
  { "is_tls", mod_is_tls },
  { "stdio_safe", mod_stdio_safe },
  { "peer_name", mod_peer_name },
  { "peer_pid", mod_peer_pid },
  { "peer_uid", mod_peer_uid },
  { "peer_gid", mod_peer_gid },
  { "shutdown", mod_shutdown },
  { "disconnect", mod_disconnect },
  { "nanosleep", mod_nanosleep },
  { "absolute_path", mod_absolute_path },
  { NULL, NULL }
};

struct luap_constant {
  const char *name;
  lua_Integer value;
};

static const struct luap_constant module_constants[] = {
  { "THREAD_MODEL_SERIALIZE_CONNECTIONS",
    NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS },
  { "THREAD_MODEL_SERIALIZE_ALL_REQUESTS",
    NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS },
  { "THREAD_MODEL_SERIALIZE_REQUESTS",
    NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS },
  { "THREAD_MODEL_PARALLEL", NBDKIT_THREAD_MODEL_PARALLEL },
  { "FLAG_MAY_TRIM", NBDKIT_FLAG_MAY_TRIM },
  { "FLAG_FUA", NBDKIT_FLAG_FUA },
  { "FLAG_REQ_ONE", NBDKIT_FLAG_REQ_ONE },
  { "FLAG_FAST_ZERO", NBDKIT_FLAG_FAST_ZERO },
  { "FUA_NONE", NBDKIT_FUA_NONE },
  { "FUA_EMULATE", NBDKIT_FUA_EMULATE },
  { "FUA_NATIVE", NBDKIT_FUA_NATIVE },
  { "CACHE_NONE", NBDKIT_CACHE_NONE },
  { "CACHE_EMULATE", NBDKIT_CACHE_EMULATE },
  { "CACHE_NATIVE", NBDKIT_CACHE_NATIVE },
  { "EXTENT_HOLE", NBDKIT_EXTENT_HOLE },
  { "EXTENT_ZERO", NBDKIT_EXTENT_ZERO },
  { NULL, 0 }
};

/* lua_CFunction for luaL_requiref: returns the module table. */
int
luap_open_module (lua_State *L)
{
  const struct luap_constant *c;

  luaL_newlib (L, module_functions);
  for (c = module_constants; c->name != NULL; ++c) {
    lua_pushinteger (L, c->value);
    lua_setfield (L, -2, c->name);
  }
  return 1;
}
