/* nbdkit-filter.h: the nbdkit filter ABI.
 *
 * Part of a clean-room implementation of nbdkit.  See nbdkit-filter(3)
 * for how to write a filter.
 *
 * A filter sits between the client and the plugin (or the next filter)
 * and may change any request on its way down and any answer on its way
 * back up.  It fills in a static struct nbdkit_filter and registers it
 * with NBDKIT_REGISTER_FILTER.
 *
 * Unlike the plugin struct, the filter structs carry no size: the
 * server recognises the layout by _version.  It loads filters built
 * against this header and filters built for nbdkit 1.32.x, whose
 * layout is the same field for field (a unit test checks every offset
 * against Debian's header).
 */

#ifndef NBDKIT_FILTER_H
#define NBDKIT_FILTER_H

#include <stdlib.h>

#include <nbdkit-common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NBDKIT_FILTER_API_VERSION 6

/* Return values of a filter's .can_zero (plugins answer a boolean). */
#define NBDKIT_ZERO_NONE     0  /* do not advertise WRITE_ZEROES */
#define NBDKIT_ZERO_EMULATE  1  /* zero by writing zeroes */
#define NBDKIT_ZERO_NATIVE   2  /* call .zero */

/* Opaque handles on the layer below.  Inside the server they are the
 * server's own types.
 */
#ifdef NBDKIT_INTERNAL
typedef struct backend nbdkit_backend;
typedef struct context nbdkit_context;
typedef struct context nbdkit_next;
#else
typedef struct nbdkit_backend nbdkit_backend;
typedef struct nbdkit_context nbdkit_context;
typedef struct nbdkit_next_ops nbdkit_next;
#endif

/* The "next" functions of the configuration and connection phases. */
typedef int nbdkit_next_config (nbdkit_backend *nxdata,
                                const char *key, const char *value);
typedef int nbdkit_next_config_complete (nbdkit_backend *nxdata);
typedef int nbdkit_next_preconnect (nbdkit_backend *nxdata, int readonly);
typedef int nbdkit_next_list_exports (nbdkit_backend *nxdata, int readonly,
                                      struct nbdkit_exports *exports);
typedef const char *nbdkit_next_default_export (nbdkit_backend *nxdata,
                                                int readonly);
typedef int nbdkit_next_open (nbdkit_context *context,
                              int readonly, const char *exportname);

/* What a filter calls on the layer below during a connection:
 * next->pread (next, ...).  The server's object behind the pointer is
 * bigger than this struct; never copy it.
 */
struct nbdkit_next_ops {
  /* Only for contexts the filter opened itself. */
  int (*prepare) (nbdkit_next *nxdata);
  int (*finalize) (nbdkit_next *nxdata);

  int64_t (*get_size) (nbdkit_next *nxdata);
  const char * (*export_description) (nbdkit_next *nxdata);
  int (*block_size) (nbdkit_next *nxdata, uint32_t *minimum,
                     uint32_t *preferred, uint32_t *maximum);

  int (*can_write) (nbdkit_next *nxdata);
  int (*can_flush) (nbdkit_next *nxdata);
  int (*is_rotational) (nbdkit_next *nxdata);
  int (*can_trim) (nbdkit_next *nxdata);
  int (*can_zero) (nbdkit_next *nxdata);
  int (*can_fast_zero) (nbdkit_next *nxdata);
  int (*can_extents) (nbdkit_next *nxdata);
  int (*can_fua) (nbdkit_next *nxdata);
  int (*can_multi_conn) (nbdkit_next *nxdata);
  int (*can_cache) (nbdkit_next *nxdata);

  /* Data operations: 0 on success, -1 with *err set on failure. */
  int (*pread) (nbdkit_next *nxdata, void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err);
  int (*pwrite) (nbdkit_next *nxdata, const void *buf, uint32_t count,
                 uint64_t offset, uint32_t flags, int *err);
  int (*flush) (nbdkit_next *nxdata, uint32_t flags, int *err);
  int (*trim) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*zero) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*extents) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
                  uint32_t flags, struct nbdkit_extents *extents, int *err);
  int (*cache) (nbdkit_next *nxdata, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
};

/* Extent lists, which filters may create, read and free. */
struct nbdkit_extent {
  uint64_t offset;
  uint64_t length;
  uint32_t type;
};

NBDKIT_EXTERN_DECL (struct nbdkit_extents *, nbdkit_extents_new,
                    (uint64_t start, uint64_t end));
NBDKIT_EXTERN_DECL (void, nbdkit_extents_free, (struct nbdkit_extents *));
NBDKIT_EXTERN_DECL (size_t, nbdkit_extents_count,
                    (const struct nbdkit_extents *));
NBDKIT_EXTERN_DECL (struct nbdkit_extent, nbdkit_get_extent,
                    (const struct nbdkit_extents *, size_t));
/* Ask next for extents until [offset, offset+count) is covered. */
NBDKIT_EXTERN_DECL (struct nbdkit_extents *, nbdkit_extents_full,
                    (nbdkit_next *next, uint32_t count, uint64_t offset,
                     uint32_t flags, int *err));
/* Extents from next, merged so that none is smaller than align. */
NBDKIT_EXTERN_DECL (int, nbdkit_extents_aligned,
                    (nbdkit_next *next, uint32_t count, uint64_t offset,
                     uint32_t flags, uint32_t align,
                     struct nbdkit_extents *extents, int *err));

/* Export lists. */
struct nbdkit_export {
  char *name;
  char *description;
};

NBDKIT_EXTERN_DECL (struct nbdkit_exports *, nbdkit_exports_new, (void));
NBDKIT_EXTERN_DECL (void, nbdkit_exports_free, (struct nbdkit_exports *));
NBDKIT_EXTERN_DECL (size_t, nbdkit_exports_count,
                    (const struct nbdkit_exports *));
/* (nbdkit declares the return type const, which means nothing for a
 * value and which -Wignored-qualifiers rejects; the ABI is the same.)
 */
NBDKIT_EXTERN_DECL (struct nbdkit_export, nbdkit_get_export,
                    (const struct nbdkit_exports *, size_t));

/* Contexts the filter manages itself (see "nbdkit_next" in
 * nbdkit-filter(3)).
 */
NBDKIT_EXTERN_DECL (nbdkit_backend *, nbdkit_context_get_backend,
                    (nbdkit_context *context));
NBDKIT_EXTERN_DECL (nbdkit_next *, nbdkit_next_context_open,
                    (nbdkit_backend *backend, int readonly,
                     const char *exportname, int shared));
NBDKIT_EXTERN_DECL (void, nbdkit_next_context_close, (nbdkit_next *next));
NBDKIT_EXTERN_DECL (nbdkit_next *, nbdkit_context_set_next,
                    (nbdkit_context *context, nbdkit_next *next));

struct nbdkit_filter {
  /* Filled in by NBDKIT_REGISTER_FILTER; filters must not set these. */
  int _api_version;
  const char *_version;

  const char *name;             /* required */
  const char *longname;
  const char *description;

  void (*load) (void);
  void (*unload) (void);

  int (*config) (nbdkit_next_config *next, nbdkit_backend *nxdata,
                 const char *key, const char *value);
  int (*config_complete) (nbdkit_next_config_complete *next,
                          nbdkit_backend *nxdata);
  const char *config_help;
  int (*thread_model) (void);
  int (*get_ready) (int thread_model);
  int (*after_fork) (nbdkit_backend *backend);
  void (*cleanup) (nbdkit_backend *backend);

  int (*preconnect) (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                     int readonly);
  int (*list_exports) (nbdkit_next_list_exports *next,
                       nbdkit_backend *nxdata, int readonly, int is_tls,
                       struct nbdkit_exports *exports);
  const char * (*default_export) (nbdkit_next_default_export *next,
                                  nbdkit_backend *nxdata,
                                  int readonly, int is_tls);
  void * (*open) (nbdkit_next_open *next, nbdkit_context *context,
                  int readonly, const char *exportname, int is_tls);
  void (*close) (void *handle);

  int (*prepare) (nbdkit_next *next, void *handle, int readonly);
  int (*finalize) (nbdkit_next *next, void *handle);

  int64_t (*get_size) (nbdkit_next *next, void *handle);
  const char * (*export_description) (nbdkit_next *next, void *handle);
  int (*block_size) (nbdkit_next *next, void *handle, uint32_t *minimum,
                     uint32_t *preferred, uint32_t *maximum);

  int (*can_write) (nbdkit_next *next, void *handle);
  int (*can_flush) (nbdkit_next *next, void *handle);
  int (*is_rotational) (nbdkit_next *next, void *handle);
  int (*can_trim) (nbdkit_next *next, void *handle);
  int (*can_zero) (nbdkit_next *next, void *handle);
  int (*can_fast_zero) (nbdkit_next *next, void *handle);
  int (*can_extents) (nbdkit_next *next, void *handle);
  int (*can_fua) (nbdkit_next *next, void *handle);
  int (*can_multi_conn) (nbdkit_next *next, void *handle);
  int (*can_cache) (nbdkit_next *next, void *handle);

  int (*pread) (nbdkit_next *next, void *handle, void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err);
  int (*pwrite) (nbdkit_next *next, void *handle, const void *buf,
                 uint32_t count, uint64_t offset, uint32_t flags, int *err);
  int (*flush) (nbdkit_next *next, void *handle, uint32_t flags, int *err);
  int (*trim) (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags, int *err);
  int (*zero) (nbdkit_next *next, void *handle, uint32_t count,
               uint64_t offset, uint32_t flags, int *err);
  int (*extents) (nbdkit_next *next, void *handle, uint32_t count,
                  uint64_t offset, uint32_t flags,
                  struct nbdkit_extents *extents, int *err);
  int (*cache) (nbdkit_next *next, void *handle, uint32_t count,
                uint64_t offset, uint32_t flags, int *err);
};

/* Emits the filter_init function the server looks up with dlsym.
 * (The prototype keeps -Wmissing-prototypes quiet in filters.)
 */
#define NBDKIT_REGISTER_FILTER(filter)                                  \
  NBDKIT_CXX_LANG_C                                                     \
  NBDKIT_DLL_PUBLIC                                                     \
  struct nbdkit_filter *filter_init (void);                             \
  NBDKIT_CXX_LANG_C                                                     \
  NBDKIT_DLL_PUBLIC                                                     \
  struct nbdkit_filter *                                                \
  filter_init (void)                                                    \
  {                                                                     \
    (filter)._api_version = NBDKIT_FILTER_API_VERSION;                  \
    (filter)._version = NBDKIT_VERSION_STRING;                          \
    return &(filter);                                                   \
  }

#ifdef __cplusplus
}
#endif

#endif /* NBDKIT_FILTER_H */
