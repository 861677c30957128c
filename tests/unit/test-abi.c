/* test-abi.c: the plugin ABI of our public headers.
 *
 * Plugins built against any nbdkit >= 1.0 header are loaded unchanged,
 * so struct nbdkit_plugin's layout and the constants are frozen.  The
 * numbers here are the x86_64/LP64 layout measured from nbdkit 1.32.5's
 * header (reference.md section 4.1).  Compiled twice, with
 * TEST_API_VERSION 1 and 2, because the data callbacks have different
 * names (but the same slots) in the two API versions.
 *
 * Almost everything is a static assertion: if this file compiles the
 * layout is right.  main() only checks what NBDKIT_REGISTER_PLUGIN
 * fills in at run time.
 */

#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <errno.h>

#define NBDKIT_API_VERSION TEST_API_VERSION
#include <nbdkit-plugin.h>

#if NBDKIT_API_VERSION != TEST_API_VERSION
#error "NBDKIT_API_VERSION was changed by the header"
#endif

#if !defined (__x86_64__) && !defined (__aarch64__)
#error "offsets below are for LP64 targets"
#endif

#define OFF(field, n)                                                   \
  _Static_assert (offsetof (struct nbdkit_plugin, field) == (n),        \
                  "offset of " #field)

_Static_assert (sizeof (struct nbdkit_plugin) == 384, "struct size");

OFF (_struct_size, 0);
OFF (_api_version, 8);
OFF (_thread_model, 12);
OFF (name, 16);
OFF (longname, 24);
OFF (version, 32);
OFF (description, 40);
OFF (load, 48);
OFF (unload, 56);
OFF (config, 64);
OFF (config_complete, 72);
OFF (config_help, 80);
OFF (open, 88);
OFF (close, 96);
OFF (get_size, 104);
OFF (can_write, 112);
OFF (can_flush, 120);
OFF (is_rotational, 128);
OFF (can_trim, 136);
#if NBDKIT_API_VERSION == 1
OFF (pread, 144);
OFF (pwrite, 152);
OFF (flush, 160);
OFF (trim, 168);
OFF (zero, 176);
#else
OFF (_pread_v1, 144);
OFF (_pwrite_v1, 152);
OFF (_flush_v1, 160);
OFF (_trim_v1, 168);
OFF (_zero_v1, 176);
#endif
OFF (errno_is_preserved, 184);
OFF (dump_plugin, 192);
OFF (can_zero, 200);
OFF (can_fua, 208);
#if NBDKIT_API_VERSION == 1
OFF (_unused1, 216);
OFF (_unused2, 224);
OFF (_unused3, 232);
OFF (_unused4, 240);
OFF (_unused5, 248);
#else
OFF (pread, 216);
OFF (pwrite, 224);
OFF (flush, 232);
OFF (trim, 240);
OFF (zero, 248);
#endif
OFF (magic_config_key, 256);
OFF (can_multi_conn, 264);
OFF (can_extents, 272);
OFF (extents, 280);
OFF (can_cache, 288);
OFF (cache, 296);
OFF (thread_model, 304);
OFF (can_fast_zero, 312);
OFF (preconnect, 320);
OFF (get_ready, 328);
OFF (after_fork, 336);
OFF (list_exports, 344);
OFF (default_export, 352);
OFF (export_description, 360);
OFF (cleanup, 368);
OFF (block_size, 376);

/* The fields' types matter as much as their places: a plugin's
 * function is called through these pointers.  Assigning a function of
 * the documented type checks them (a mismatch is a compile error with
 * -Werror=incompatible-pointer-types, which gcc enables by -Werror).
 */
static int64_t t_get_size (void *h) { return 0; }
static void *t_open (int readonly) { return NBDKIT_HANDLE_NOT_NEEDED; }
static int t_config (const char *k, const char *v) { return 0; }
static int t_block_size (void *h, uint32_t *mn, uint32_t *pr, uint32_t *mx)
{ return 0; }
static int t_list_exports (int ro, int tls, struct nbdkit_exports *e)
{ return 0; }
static const char *t_default_export (int ro, int tls) { return ""; }
static int t_extents (void *h, uint32_t c, uint64_t o, uint32_t f,
                      struct nbdkit_extents *e) { return 0; }
#if NBDKIT_API_VERSION == 1
static int t_pread (void *h, void *buf, uint32_t c, uint64_t o) { return 0; }
static int t_zero (void *h, uint32_t c, uint64_t o, int may_trim)
{ return 0; }
#else
static int t_pread (void *h, void *buf, uint32_t c, uint64_t o, uint32_t f)
{ return 0; }
static int t_zero (void *h, uint32_t c, uint64_t o, uint32_t f) { return 0; }
#endif

/* Constants (nbdkit-common.h). */
_Static_assert (NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS == 0, "tm");
_Static_assert (NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS == 1, "tm");
_Static_assert (NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS == 2, "tm");
_Static_assert (NBDKIT_THREAD_MODEL_PARALLEL == 3, "tm");
_Static_assert (NBDKIT_FLAG_MAY_TRIM == 1, "flag");
_Static_assert (NBDKIT_FLAG_FUA == 2, "flag");
_Static_assert (NBDKIT_FLAG_REQ_ONE == 4, "flag");
_Static_assert (NBDKIT_FLAG_FAST_ZERO == 8, "flag");
_Static_assert (NBDKIT_FUA_NONE == 0, "fua");
_Static_assert (NBDKIT_FUA_EMULATE == 1, "fua");
_Static_assert (NBDKIT_FUA_NATIVE == 2, "fua");
_Static_assert (NBDKIT_CACHE_NONE == 0, "cache");
_Static_assert (NBDKIT_CACHE_EMULATE == 1, "cache");
_Static_assert (NBDKIT_CACHE_NATIVE == 2, "cache");
_Static_assert (NBDKIT_EXTENT_HOLE == 1, "extent");
_Static_assert (NBDKIT_EXTENT_ZERO == 2, "extent");
_Static_assert (NBDKIT_VERSION_MAJOR == 1, "version");

#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS

static struct nbdkit_plugin plugin = {
  .name = "abi",
  .config = t_config,
  .open = t_open,
  .get_size = t_get_size,
  .pread = t_pread,
  .zero = t_zero,
  .extents = t_extents,
  .list_exports = t_list_exports,
  .default_export = t_default_export,
  .block_size = t_block_size,
};

/* The macro defines an exported function with no prior prototype. */
struct nbdkit_plugin *plugin_init (void);
NBDKIT_REGISTER_PLUGIN (plugin)

int
main (void)
{
  struct nbdkit_plugin *p = plugin_init ();
  int failed = 0;

  if (p != &plugin) {
    fprintf (stderr, "plugin_init returned the wrong pointer\n");
    failed = 1;
  }
  if (p->_struct_size != 384 || p->_api_version != TEST_API_VERSION ||
      p->_thread_model != NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS) {
    fprintf (stderr, "plugin_init: _struct_size=%llu _api_version=%d "
             "_thread_model=%d\n",
             (unsigned long long) p->_struct_size, p->_api_version,
             p->_thread_model);
    failed = 1;
  }
  /* The handle plugins return when they need none: any non-NULL
   * pointer, but it must be &errno so that old plugins keep comparing
   * equal.
   */
  if (NBDKIT_HANDLE_NOT_NEEDED != (void *) &errno) {
    fprintf (stderr, "NBDKIT_HANDLE_NOT_NEEDED is not &errno\n");
    failed = 1;
  }
  fprintf (stderr, "test-abi (API version %d): %s\n", TEST_API_VERSION,
           failed ? "FAILED" : "ok");
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
