/* luap-data.c: the per-connection callbacks of the Lua plugin.
 *
 * From open to close, in the interpreter of the connection: luap_main,
 * or under a loose thread model the connection's own one (created by
 * open, destroyed by close).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "luap.h"

static int
luap_open_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  r->fn = "open";
  luap_need_function (L, r);
  lua_pushboolean (L, r->flag);
  lua_call (L, 1, 1);
  r->ref = luaL_ref (L, LUA_REGISTRYINDEX);
  return 0;
}

void *
luap_open (int readonly)
{
  struct luap_handle *h;
  struct luap_req r = { .flag = readonly };

  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  if (luap_script_thread_model >= NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS) {
    h->interp = luap_interp_new_connection ();
    if (h->interp == NULL) {
      free (h);
      return NULL;
    }
  }
  else
    h->interp = &luap_main;

  if (luap_request (h->interp, "open", luap_open_body, &r) == -1) {
    if (h->interp->per_connection) {
      luap_interp_destroy (h->interp);
      free (h->interp);
    }
    free (h);
    return NULL;
  }
  h->ref = r.ref;
  return h;
}

static int
luap_close_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (luap_push_function (L, "close")) {
    luap_push_handle (L, r);
    lua_call (L, 1, 0);
  }
  return 0;
}

static int
luap_unref_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  luaL_unref (L, LUA_REGISTRYINDEX, r->h->ref);
  return 0;
}

void
luap_close (void *handle)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h };

  luap_request (h->interp, "close", luap_close_body, &r);
  if (h->interp->per_connection) {
    /* Closing the state frees the handle with everything else. */
    luap_interp_destroy (h->interp);
    free (h->interp);
  }
  else
    luap_request (h->interp, "close", luap_unref_body, &r);
  free (h);
}

static int
luap_get_size_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);
  lua_Integer n;
  int isnum;

  r->fn = "get_size";
  luap_need_function (L, r);
  luap_push_handle (L, r);
  lua_call (L, 1, 1);
  n = lua_tointegerx (L, -1, &isnum);
  if (!isnum) {
    /* A fractional size is truncated, as nbdkit's Lua plugin does. */
    lua_Number d = lua_tonumberx (L, -1, &isnum);
    if (!isnum || !(d >= 0 && d < 0x1p63))
      return luaL_error (L, "return value must be a non-negative integer, "
                         "not %s", isnum ? lua_tostring (L, -1)
                         : luaL_typename (L, -1));
    n = (lua_Integer) d;
  }
  if (n < 0)
    return luaL_error (L, "size must not be negative (%I)", n);
  r->size = n;
  return 0;
}

int64_t
luap_get_size (void *handle)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h };

  if (luap_request (h->interp, "get_size", luap_get_size_body, &r) == -1)
    return -1;
  return r.size;
}

static int
luap_export_description_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  r->str = NULL;
  if (!luap_push_function (L, "export_description"))
    return 0;
  luap_push_handle (L, r);
  lua_call (L, 1, 1);
  if (lua_isnil (L, -1))
    return 0;
  if (lua_type (L, -1) != LUA_TSTRING)
    return luaL_error (L, "return value must be a string or nil, not %s",
                       luaL_typename (L, -1));
  r->str = nbdkit_strdup_intern (lua_tostring (L, -1));
  return 0;
}

const char *
luap_export_description (void *handle)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h };

  if (luap_request (h->interp, "export_description",
                    luap_export_description_body, &r) == -1)
    return NULL;
  return r.str;
}

/* block_size (h) returns minimum, preferred, maximum (or a table of
 * the three, or nil for no constraints).  -1 as maximum = 0xffffffff.
 */
static int
luap_block_size_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);
  static const char *const what[] = { "minimum", "preferred", "maximum" };
  uint32_t v[3];
  int i, base;

  r->minimum = r->preferred = r->maximum = 0;
  if (!luap_push_function (L, "block_size"))
    return 0;
  base = lua_gettop (L);
  luap_push_handle (L, r);
  lua_call (L, 1, 3);
  if (lua_isnil (L, base) && lua_isnil (L, base + 1))
    return 0;
  if (lua_istable (L, base)) {
    lua_rawgeti (L, base, 1);
    lua_rawgeti (L, base, 2);
    lua_rawgeti (L, base, 3);
    base += 3;
  }
  for (i = 0; i < 3; ++i) {
    lua_Integer n = luap_check_integer (L, base + i, what[i]);
    if (i == 2 && n == -1)
      n = UINT32_MAX;
    if (n < 0 || n > (lua_Integer) UINT32_MAX)
      return luaL_error (L, "%s block size is out of range (%I)", what[i], n);
    v[i] = (uint32_t) n;
  }
  r->minimum = v[0];
  r->preferred = v[1];
  r->maximum = v[2];
  return 0;
}

int
luap_block_size (void *handle,
                 uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h };

  if (luap_request (h->interp, "block_size", luap_block_size_body, &r) == -1)
    return -1;
  *minimum = r.minimum;
  *preferred = r.preferred;
  *maximum = r.maximum;
  return 0;
}

/* Boolean can_* and is_rotational.  Without the Lua function the
 * answer is whether r->dflt_fn is defined, or r->dflt.
 */
static int
luap_can_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (!luap_push_function (L, r->fn)) {
    r->ret = r->dflt_fn ? luap_is_defined (L, r->dflt_fn) : r->dflt;
    return 0;
  }
  luap_push_handle (L, r);
  lua_call (L, 1, 1);
  r->ret = luap_check_boolean (L, -1);
  return 0;
}

static int
luap_can (void *handle, const char *fn, const char *dflt_fn, int dflt)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .fn = fn, .dflt_fn = dflt_fn, .dflt = dflt };

  return luap_request (h->interp, fn, luap_can_body, &r);
}

int
luap_can_write (void *handle)
{
  return luap_can (handle, "can_write", "pwrite", 0);
}

int
luap_can_flush (void *handle)
{
  /* nbdkit's Lua plugin looks for "plugin_flush" here, so a script
   * defining flush never gets flush requests.  We look for "flush".
   */
  return luap_can (handle, "can_flush", "flush", 0);
}

int
luap_is_rotational (void *handle)
{
  return luap_can (handle, "is_rotational", NULL, 0);
}

int
luap_can_trim (void *handle)
{
  return luap_can (handle, "can_trim", "trim", 0);
}

int
luap_can_zero (void *handle)
{
  /* false = the server writes zeroes with pwrite itself. */
  return luap_can (handle, "can_zero", "zero", 0);
}

int
luap_can_fast_zero (void *handle)
{
  /* Advertised by default, as nbdkit's Lua plugin does: a script
   * without can_fast_zero never sees FLAG_FAST_ZERO, such requests
   * fail at once with ENOTSUP (see luap_zero_body).
   */
  return luap_can (handle, "can_fast_zero", NULL, 1);
}

int
luap_can_multi_conn (void *handle)
{
  return luap_can (handle, "can_multi_conn", NULL, 0);
}

int
luap_can_extents (void *handle)
{
  return luap_can (handle, "can_extents", "extents", 0);
}

/* can_fua and can_cache. */
static int
luap_tristate_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (!luap_push_function (L, r->fn)) {
    if (r->dflt_fn)
      r->ret = luap_is_defined (L, r->dflt_fn) ? r->dflt : 0;
    else
      r->ret = r->dflt;
    return 0;
  }
  luap_push_handle (L, r);
  lua_call (L, 1, 1);
  r->ret = luap_check_tristate (L, -1);
  return 0;
}

/* Without can_fua, FUA is emulated (nbdkit calls flush after each FUA
 * write) only if the script defines flush, as for a C plugin without
 * .can_fua.  Without flush there is nothing to make a write durable,
 * so advertising FUA would have clients trust writes that are not.
 * (nbdkit's Lua plugin advertises it anyway.)
 */
static int
luap_can_fua_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  /* Sets r->ret or raises: it leaves nothing to return to Lua. */
  luap_tristate_body (L);
  if (r->ret == NBDKIT_FUA_EMULATE && !luap_is_defined (L, "flush"))
    /* The script's own answer: obeyed, but it deserves a trace. */
    nbdkit_debug ("lua: can_fua returned emulate, but the script has no "
                  "flush function: FUA requests will be acknowledged "
                  "without anything being flushed");
  return 0;
}

int
luap_can_fua (void *handle)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .fn = "can_fua", .dflt_fn = "flush",
                        .dflt = NBDKIT_FUA_EMULATE };

  return luap_request (h->interp, "can_fua", luap_can_fua_body, &r);
}

int
luap_can_cache (void *handle)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .fn = "can_cache", .dflt_fn = "cache",
                        .dflt = NBDKIT_CACHE_NATIVE };

  return luap_request (h->interp, "can_cache", luap_tristate_body, &r);
}

/*----------------------------------------------------------------------
 * Data.
 */

/* pread (h, count, offset, flags) returns a string of count bytes. */
static int
luap_pread_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);
  const char *s;
  size_t len;

  r->fn = "pread";
  luap_need_function (L, r);
  luap_push_handle (L, r);
  lua_pushinteger (L, r->count);
  lua_pushinteger (L, (lua_Integer) r->offset);
  lua_pushinteger (L, r->flags);
  lua_call (L, 4, 1);
  if (lua_type (L, -1) != LUA_TSTRING)
    return luaL_error (L, "return value must be a string, not %s",
                       luaL_typename (L, -1));
  s = lua_tolstring (L, -1, &len);
  if (len < r->count)
    return luaL_error (L, "returned string is too short: %I bytes, "
                       "but %I were requested",
                       (lua_Integer) len, (lua_Integer) r->count);
  memcpy (r->buf, s, r->count);
  return 0;
}

int
luap_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .buf = buf, .count = count,
                        .offset = offset, .flags = flags };

  return luap_request (h->interp, "pread", luap_pread_body, &r);
}

/* pwrite (h, buf, offset, flags) */
static int
luap_pwrite_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  r->fn = "pwrite";
  luap_need_function (L, r);
  luap_push_handle (L, r);
  lua_pushlstring (L, r->buf, r->count);
  lua_pushinteger (L, (lua_Integer) r->offset);
  lua_pushinteger (L, r->flags);
  lua_call (L, 4, 0);
  return 0;
}

int
luap_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .buf = (void *) buf, .count = count,
                        .offset = offset, .flags = flags };

  return luap_request (h->interp, "pwrite", luap_pwrite_body, &r);
}

/* flush (h, flags); missing = nothing to do. */
static int
luap_flush_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (!luap_push_function (L, "flush"))
    return 0;
  luap_push_handle (L, r);
  lua_pushinteger (L, r->flags);
  lua_call (L, 2, 0);
  return 0;
}

int
luap_flush (void *handle, uint32_t flags)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .flags = flags };

  return luap_request (h->interp, "flush", luap_flush_body, &r);
}

/* trim (h, count, offset, flags) and cache (h, count, offset, flags);
 * missing = nothing to do.
 */
static int
luap_range_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (!luap_push_function (L, r->fn))
    return 0;
  luap_push_handle (L, r);
  lua_pushinteger (L, r->count);
  lua_pushinteger (L, (lua_Integer) r->offset);
  lua_pushinteger (L, r->flags);
  lua_call (L, 4, 0);
  return 0;
}

int
luap_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .fn = "trim", .count = count,
                        .offset = offset, .flags = flags };

  return luap_request (h->interp, "trim", luap_range_body, &r);
}

int
luap_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .fn = "cache", .count = count,
                        .offset = offset, .flags = flags };

  return luap_request (h->interp, "cache", luap_range_body, &r);
}

/* zero (h, count, offset, may_trim, flags) */
static int
luap_zero_body (lua_State *L)
{
  struct luap_req *r = luap_req_arg (L);

  if (!luap_is_defined (L, "zero")) {
    /* The server falls back to writing zeroes with pwrite. */
    nbdkit_debug ("lua: the script has no zero function: "
                  "falling back to pwrite");
    nbdkit_set_error (EOPNOTSUPP);
    r->ret = -1;
    return 0;
  }
  if ((r->flags & NBDKIT_FLAG_FAST_ZERO) &&
      !luap_is_defined (L, "can_fast_zero")) {
    /* The script did not say its zero is fast: fail fast. */
    nbdkit_set_error (ENOTSUP);
    r->ret = -1;
    return 0;
  }
  luap_push_function (L, "zero");
  luap_push_handle (L, r);
  lua_pushinteger (L, r->count);
  lua_pushinteger (L, (lua_Integer) r->offset);
  lua_pushboolean (L, (r->flags & NBDKIT_FLAG_MAY_TRIM) != 0);
  lua_pushinteger (L, r->flags);
  lua_call (L, 5, 0);
  return 0;
}

int
luap_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .count = count, .offset = offset,
                        .flags = flags };

  return luap_request (h->interp, "zero", luap_zero_body, &r);
}

/* extents (h, count, offset, flags) returns a list of extents, each
 * {offset, length, type} or {offset = ..., length = ..., type = ...}.
 */
static int
luap_extents_body (lua_State *L)
{
  static const char *const fields[] = { "offset", "length", "type" };
  struct luap_req *r = luap_req_arg (L);
  lua_Integer i, n;
  int list, j;

  r->fn = "extents";
  luap_need_function (L, r);
  luap_push_handle (L, r);
  lua_pushinteger (L, r->count);
  lua_pushinteger (L, (lua_Integer) r->offset);
  lua_pushinteger (L, r->flags);
  lua_call (L, 4, 1);
  if (!lua_istable (L, -1))
    return luaL_error (L, "return value must be a table (a list of "
                       "extents), not %s", luaL_typename (L, -1));
  list = lua_gettop (L);
  n = (lua_Integer) lua_rawlen (L, list);
  if (n == 0)
    return luaL_error (L, "returned no extents");
  for (i = 1; i <= n; ++i) {
    lua_Integer v[3];

    if (lua_rawgeti (L, list, i) != LUA_TTABLE)
      return luaL_error (L, "extent %I must be a table, not %s",
                         i, luaL_typename (L, -1));
    for (j = 0; j < 3; ++j) {
      if (lua_rawgeti (L, list + 1, j + 1) == LUA_TNIL) {
        lua_pop (L, 1);
        lua_getfield (L, list + 1, fields[j]);
      }
      v[j] = luap_check_integer (L, -1, fields[j]);
      lua_pop (L, 1);
    }
    if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[2] > 3)
      return luaL_error (L, "extent %I is invalid: offset %I, length %I, "
                         "type %I", i, v[0], v[1], v[2]);
    if (nbdkit_add_extent (r->extents, v[0], v[1], v[2]) == -1) {
      r->ret = -1;
      return 0;
    }
    lua_settop (L, list);
  }
  return 0;
}

int
luap_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents)
{
  struct luap_handle *h = handle;
  struct luap_req r = { .h = h, .count = count, .offset = offset,
                        .flags = flags, .extents = extents };

  return luap_request (h->interp, "extents", luap_extents_body, &r);
}
