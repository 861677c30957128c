/* public-parse.c: the nbdkit_parse_* helpers exported to plugins.
 *
 * Plugins use these to parse their key=value parameters, so the exact
 * accepted syntax and the error messages are user-visible.  They
 * follow what nbdkit 1.32.5 does (observed by running it):
 *
 * - Integers: decimal, 0x hexadecimal or 0 octal, with optional sign
 *   and leading whitespace (strtoimax/strtoumax with base 0).  The
 *   checks run in this order, so "999x" parsed as uint8_t is a range
 *   error rather than trailing garbage: nothing parsed, errno from
 *   the conversion, range of the target type, trailing characters.
 * - Unsigned parsers reject any leading '-' (even "-0") instead of
 *   letting strtoumax wrap it around, and they quote the input with
 *   its leading whitespace removed.
 * - Sizes: a decimal number with an optional one-letter suffix.
 *
 * On error the functions call nbdkit_error and return -1 without
 * touching *r.  Range errors leave errno = ERANGE (the message uses
 * %m), which plugins written against the real nbdkit may rely on.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>

#include "internal.h"

/* The checks after strtoimax/strtoumax, in the order described at the
 * top of the file.  END is where the conversion stopped; OUT_OF_RANGE
 * says whether the value misses the target type.
 */
static int
check_parsed (const char *what, const char *str, const char *end,
              bool out_of_range)
{
  if (end == str) {
    nbdkit_error ("%s: empty string where we expected a number", what);
    return -1;
  }
  if (errno != 0) {
    nbdkit_error ("%s: could not parse number: \"%s\": %m", what, str);
    return -1;
  }
  if (out_of_range) {
    errno = ERANGE;
    nbdkit_error ("%s: could not parse number: \"%s\": %m", what, str);
    return -1;
  }
  if (*end != '\0') {
    nbdkit_error ("%s: could not parse number: \"%s\": trailing garbage",
                  what, str);
    return -1;
  }
  return 0;
}

/* Parse a signed integer and check it lies in [min, max]. */
static int
parse_signed (const char *what, const char *str,
              intmax_t min, intmax_t max, intmax_t *r)
{
  char *end;
  intmax_t v;

  errno = 0;
  v = strtoimax (str, &end, 0);
  if (check_parsed (what, str, end, v < min || v > max) == -1)
    return -1;
  *r = v;
  return 0;
}

/* Parse an unsigned integer and check it is <= max. */
static int
parse_unsigned (const char *what, const char *str,
                uintmax_t max, uintmax_t *r)
{
  char *end;
  uintmax_t v;

  /* strtoumax would accept "-1" as UINTMAX_MAX, so look for the sign
   * ourselves.  nbdkit quotes the string from here on, so do we.
   */
  while (isspace ((unsigned char) *str))
    str++;
  if (*str == '-') {
    nbdkit_error ("%s: negative numbers are not allowed", what);
    return -1;
  }

  errno = 0;
  v = strtoumax (str, &end, 0);
  if (check_parsed (what, str, end, v > max) == -1)
    return -1;
  *r = v;
  return 0;
}

/* One exported function per type.  r may be NULL when the caller
 * only wants to validate the string.
 */
#define DEFINE_PARSE_SIGNED(name, type, min, max)                       \
  NBDKIT_DLL_PUBLIC int                                                 \
  name (const char *what, const char *str, type *r)                     \
  {                                                                     \
    intmax_t v;                                                         \
                                                                        \
    if (parse_signed (what, str, (min), (max), &v) == -1)               \
      return -1;                                                        \
    if (r)                                                              \
      *r = (type) v;                                                    \
    return 0;                                                           \
  }

#define DEFINE_PARSE_UNSIGNED(name, type, max)                          \
  NBDKIT_DLL_PUBLIC int                                                 \
  name (const char *what, const char *str, type *r)                     \
  {                                                                     \
    uintmax_t v;                                                        \
                                                                        \
    if (parse_unsigned (what, str, (max), &v) == -1)                    \
      return -1;                                                        \
    if (r)                                                              \
      *r = (type) v;                                                    \
    return 0;                                                           \
  }

DEFINE_PARSE_SIGNED (nbdkit_parse_int, int, INT_MIN, INT_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_unsigned, unsigned, UINT_MAX)
DEFINE_PARSE_SIGNED (nbdkit_parse_int8_t, int8_t, INT8_MIN, INT8_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_uint8_t, uint8_t, UINT8_MAX)
DEFINE_PARSE_SIGNED (nbdkit_parse_int16_t, int16_t, INT16_MIN, INT16_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_uint16_t, uint16_t, UINT16_MAX)
DEFINE_PARSE_SIGNED (nbdkit_parse_int32_t, int32_t, INT32_MIN, INT32_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_uint32_t, uint32_t, UINT32_MAX)
DEFINE_PARSE_SIGNED (nbdkit_parse_int64_t, int64_t, INT64_MIN, INT64_MAX)
DEFINE_PARSE_UNSIGNED (nbdkit_parse_uint64_t, uint64_t, UINT64_MAX)

/* Sizes: "NNN" or "NNN<suffix>".  The number is always decimal (so
 * "010" is ten and "0x10" has the unknown suffix "x10"), may have
 * leading whitespace and a sign, and "-0" is accepted as zero.
 */
NBDKIT_DLL_PUBLIC int64_t
nbdkit_parse_size (const char *str)
{
  char *end;
  intmax_t size;
  int64_t scale;

  errno = 0;
  size = strtoimax (str, &end, 10);
  if (end == str) {
    nbdkit_error ("could not parse size string (%s)", str);
    return -1;
  }
  /* Checked before ERANGE, so "-99999999999999999999" says negative. */
  if (size < 0) {
    nbdkit_error ("size cannot be negative (%s)", str);
    return -1;
  }
  if (errno == ERANGE) {
    nbdkit_error ("size (%s) exceeds maximum value", str);
    return -1;
  }

  switch (*end) {
  case '\0':
  case 'b': case 'B': scale = 1; break;
  case 's': case 'S': scale = 512; break;
  case 'k': case 'K': scale = INT64_C (1) << 10; break;
  case 'm': case 'M': scale = INT64_C (1) << 20; break;
  case 'g': case 'G': scale = INT64_C (1) << 30; break;
  case 't': case 'T': scale = INT64_C (1) << 40; break;
  case 'p': case 'P': scale = INT64_C (1) << 50; break;
  case 'e': case 'E': scale = INT64_C (1) << 60; break;
  default: scale = 0;
  }
  if (scale == 0 || (end[0] != '\0' && end[1] != '\0')) {
    nbdkit_error ("could not parse size: unknown suffix '%s'", end);
    return -1;
  }

  if (size > INT64_MAX / scale) {
    nbdkit_error ("overflow computing size (%s)", str);
    return -1;
  }
  return size * scale;
}

/* Booleans: only these exact words, in any case.  No whitespace. */
NBDKIT_DLL_PUBLIC int
nbdkit_parse_bool (const char *str)
{
  static const char *const true_words[] = { "1", "true", "t", "yes", "y",
                                            "on" };
  static const char *const false_words[] = { "0", "false", "f", "no", "n",
                                             "off" };
  size_t i;

  for (i = 0; i < ARRAY_SIZE (true_words); ++i)
    if (strcasecmp (str, true_words[i]) == 0)
      return 1;
  for (i = 0; i < ARRAY_SIZE (false_words); ++i)
    if (strcasecmp (str, false_words[i]) == 0)
      return 0;

  nbdkit_error ("could not decipher boolean (%s)", str);
  return -1;
}
