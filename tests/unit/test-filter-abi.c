/* test-filter-abi.c: print the layout of the filter ABI.
 *
 * Built twice: against our include/nbdkit-filter.h and against
 * Debian's /usr/include/nbdkit-filter.h (nbdkit 1.32.5).  The test
 * (test-filter-abi.sh) runs both and requires identical output, which
 * is what lets Debian's binary filters load in our server: every field
 * offset of struct nbdkit_filter and struct nbdkit_next_ops, the struct
 * sizes, and the constants a filter compiles in.
 */

#include <stdio.h>
#include <stddef.h>

#include <nbdkit-filter.h>

#define OFF(type, field) \
  printf ("%s.%s %zu\n", #type, #field, offsetof (struct type, field))

int
main (void)
{
  printf ("sizeof nbdkit_filter %zu\n", sizeof (struct nbdkit_filter));
  printf ("sizeof nbdkit_next_ops %zu\n", sizeof (struct nbdkit_next_ops));
  printf ("sizeof nbdkit_extent %zu\n", sizeof (struct nbdkit_extent));
  printf ("sizeof nbdkit_export %zu\n", sizeof (struct nbdkit_export));
  printf ("NBDKIT_FILTER_API_VERSION %d\n", NBDKIT_FILTER_API_VERSION);
  printf ("NBDKIT_ZERO %d %d %d\n",
          NBDKIT_ZERO_NONE, NBDKIT_ZERO_EMULATE, NBDKIT_ZERO_NATIVE);
  printf ("NBDKIT_FUA %d %d %d\n",
          NBDKIT_FUA_NONE, NBDKIT_FUA_EMULATE, NBDKIT_FUA_NATIVE);
  printf ("NBDKIT_CACHE %d %d %d\n",
          NBDKIT_CACHE_NONE, NBDKIT_CACHE_EMULATE, NBDKIT_CACHE_NATIVE);
  printf ("NBDKIT_FLAG %d %d %d %d\n", NBDKIT_FLAG_MAY_TRIM,
          NBDKIT_FLAG_FUA, NBDKIT_FLAG_REQ_ONE, NBDKIT_FLAG_FAST_ZERO);

  OFF (nbdkit_filter, _api_version);
  OFF (nbdkit_filter, _version);
  OFF (nbdkit_filter, name);
  OFF (nbdkit_filter, longname);
  OFF (nbdkit_filter, description);
  OFF (nbdkit_filter, load);
  OFF (nbdkit_filter, unload);
  OFF (nbdkit_filter, config);
  OFF (nbdkit_filter, config_complete);
  OFF (nbdkit_filter, config_help);
  OFF (nbdkit_filter, thread_model);
  OFF (nbdkit_filter, get_ready);
  OFF (nbdkit_filter, after_fork);
  OFF (nbdkit_filter, cleanup);
  OFF (nbdkit_filter, preconnect);
  OFF (nbdkit_filter, list_exports);
  OFF (nbdkit_filter, default_export);
  OFF (nbdkit_filter, open);
  OFF (nbdkit_filter, close);
  OFF (nbdkit_filter, prepare);
  OFF (nbdkit_filter, finalize);
  OFF (nbdkit_filter, get_size);
  OFF (nbdkit_filter, export_description);
  OFF (nbdkit_filter, block_size);
  OFF (nbdkit_filter, can_write);
  OFF (nbdkit_filter, can_flush);
  OFF (nbdkit_filter, is_rotational);
  OFF (nbdkit_filter, can_trim);
  OFF (nbdkit_filter, can_zero);
  OFF (nbdkit_filter, can_fast_zero);
  OFF (nbdkit_filter, can_extents);
  OFF (nbdkit_filter, can_fua);
  OFF (nbdkit_filter, can_multi_conn);
  OFF (nbdkit_filter, can_cache);
  OFF (nbdkit_filter, pread);
  OFF (nbdkit_filter, pwrite);
  OFF (nbdkit_filter, flush);
  OFF (nbdkit_filter, trim);
  OFF (nbdkit_filter, zero);
  OFF (nbdkit_filter, extents);
  OFF (nbdkit_filter, cache);

  OFF (nbdkit_next_ops, prepare);
  OFF (nbdkit_next_ops, finalize);
  OFF (nbdkit_next_ops, get_size);
  OFF (nbdkit_next_ops, export_description);
  OFF (nbdkit_next_ops, block_size);
  OFF (nbdkit_next_ops, can_write);
  OFF (nbdkit_next_ops, can_flush);
  OFF (nbdkit_next_ops, is_rotational);
  OFF (nbdkit_next_ops, can_trim);
  OFF (nbdkit_next_ops, can_zero);
  OFF (nbdkit_next_ops, can_fast_zero);
  OFF (nbdkit_next_ops, can_extents);
  OFF (nbdkit_next_ops, can_fua);
  OFF (nbdkit_next_ops, can_multi_conn);
  OFF (nbdkit_next_ops, can_cache);
  OFF (nbdkit_next_ops, pread);
  OFF (nbdkit_next_ops, pwrite);
  OFF (nbdkit_next_ops, flush);
  OFF (nbdkit_next_ops, trim);
  OFF (nbdkit_next_ops, zero);
  OFF (nbdkit_next_ops, extents);
  OFF (nbdkit_next_ops, cache);

  OFF (nbdkit_extent, offset);
  OFF (nbdkit_extent, length);
  OFF (nbdkit_extent, type);
  OFF (nbdkit_export, name);
  OFF (nbdkit_export, description);
  return 0;
}
