/* badversion-filter.c: a filter that claims to be built for nbdkit
 * 1.30.0, whose layout we do not know: the server must refuse it and
 * name both versions.  (Registered by hand: NBDKIT_REGISTER_FILTER
 * would stamp our own version.)
 */

#include <nbdkit-filter.h>

static struct nbdkit_filter filter = {
  .name = "badversion",
};

NBDKIT_DLL_PUBLIC struct nbdkit_filter *filter_init (void);

NBDKIT_DLL_PUBLIC struct nbdkit_filter *
filter_init (void)
{
  filter._api_version = NBDKIT_FILTER_API_VERSION;
  filter._version = "1.30.0";
  return &filter;
}
