/* luap-call.c: calling the script for one nbdkit callback.
 *
 * Each callback fills in a struct luap_req and runs a "body" function
 * in protected mode in the right interpreter (luap_request).  The
 * helpers below are for the bodies: they check and convert what the
 * script returned, and raise a Lua error with a clear message when it
 * is wrong.
 */

#include <stdlib.h>
#include <string.h>

#include "luap.h"

void
luap_lock (struct luap_interp *interp)
{
  if (pthread_mutex_lock (&interp->lock) != 0)
    abort ();
}

void
luap_unlock (struct luap_interp *interp)
{
  if (pthread_mutex_unlock (&interp->lock) != 0)
    abort ();
}

/* Call BODY in the interpreter INTERP (locked).  Returns -1 if the
 * body raised (logged as "METHOD: message") or set r->ret = -1.
 */
int
luap_request (struct luap_interp *interp, const char *method,
              lua_CFunction body, struct luap_req *r)
{
  int ret;

  if (interp->L == NULL) {
    nbdkit_error ("%s: no Lua script has been loaded", method);
    return -1;
  }
  luap_lock (interp);
  ret = luap_pcall (interp->L, method, body, r);
  luap_unlock (interp);
  if (ret == -1)
    return -1;
  return r->ret;
}

/*----------------------------------------------------------------------
 * Helpers for the protected bodies.  These may raise Lua errors.
 */

struct luap_req *
luap_req_arg (lua_State *L)
{
  return lua_touserdata (L, 1);
}

void
luap_push_handle (lua_State *L, struct luap_req *r)
{
  lua_rawgeti (L, LUA_REGISTRYINDEX, r->h->ref);
}

/* Push the function r->fn, raising an error if the script lacks it. */
void
luap_need_function (lua_State *L, struct luap_req *r)
{
  if (!luap_push_function (L, r->fn))
    luaL_error (L, "the script does not define a %s function", r->fn);
}

/* Integer at IDX, accepting integral floats and numeric strings.
 * WHAT names the value in the error message.
 */
lua_Integer
luap_check_integer (lua_State *L, int idx, const char *what)
{
  int isnum;
  lua_Integer n = lua_tointegerx (L, idx, &isnum);

  if (!isnum)
    luaL_error (L, "%s must be an integer, not %s",
                what, luaL_typename (L, idx));
  return n;
}

bool
luap_check_boolean (lua_State *L, int idx)
{
  if (!lua_isboolean (L, idx))
    luaL_error (L, "return value must be a boolean, not %s",
                luaL_typename (L, idx));
  return lua_toboolean (L, idx);
}

/* NBDKIT_FUA_* / NBDKIT_CACHE_*: a constant, a boolean (false = none,
 * true = native) or the name "none", "emulate" or "native".
 */
int
luap_check_tristate (lua_State *L, int idx)
{
  static const char *const names[] = { "none", "emulate", "native", NULL };
  size_t i;

  switch (lua_type (L, idx)) {
  case LUA_TBOOLEAN:
    return lua_toboolean (L, idx) ? 2 : 0;
  case LUA_TNUMBER: {
    int isnum;
    lua_Integer n = lua_tointegerx (L, idx, &isnum);
    if (!isnum || n < 0 || n > 2)
      luaL_error (L, "return value must be 0, 1 or 2 (none, emulate "
                  "or native), not %s", lua_tostring (L, idx));
    return (int) n;
  }
  case LUA_TSTRING:
    for (i = 0; names[i]; ++i)
      if (strcmp (lua_tostring (L, idx), names[i]) == 0)
        return (int) i;
    return luaL_error (L, "return value must be \"none\", \"emulate\" or "
                       "\"native\", not \"%s\"", lua_tostring (L, idx));
  default:
    return luaL_error (L, "return value must be a boolean, a number or "
                       "a string, not %s", luaL_typename (L, idx));
  }
}
