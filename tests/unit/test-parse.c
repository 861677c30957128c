/* test-parse.c: nbdkit_parse_size, nbdkit_parse_bool and the integer
 * parsers (server/public-parse.c).
 *
 * Every row's expected result and error text was observed from
 * Debian's nbdkit 1.32.5 with a throwaway plugin calling the parser.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <inttypes.h>

#include "stubs.h"

/* ------------------------------------------------------------------
 * nbdkit_parse_size
 */
struct size_test {
  const char *str;
  int64_t expected;             /* when err == NULL */
  const char *err;              /* exact nbdkit_error text */
};

static const struct size_test size_tests[] = {
  { "0", 0 },
  { "1", 1 },
  { "-0", 0 },
  { "+1", 1 },
  { " 1", 1 },
  { "\t2", 2 },
  { "\n3", 3 },
  { "010", 10 },                /* always decimal */
  { "08", 8 },
  { "00010", 10 },
  { "1b", 1 }, { "1B", 1 },
  { "1s", 512 }, { "1S", 512 }, { "2s", 1024 }, { "0s", 0 },
  { "1k", 1024 }, { "1K", 1024 },
  { "1m", 1048576 }, { "1M", 1048576 },
  { "1g", INT64_C (1) << 30 }, { "1G", INT64_C (1) << 30 },
  { "1t", INT64_C (1) << 40 }, { "1T", INT64_C (1) << 40 },
  { "1p", INT64_C (1) << 50 }, { "1P", INT64_C (1) << 50 },
  { "1e", INT64_C (1) << 60 }, { "1E", INT64_C (1) << 60 },
  { "0e", 0 },
  { "-0k", 0 },
  { "7E", INT64_C (7) << 60 },
  { "8191P", INT64_C (8191) << 50 },
  { "8388607T", INT64_C (8388607) << 40 },
  { "18014398509481983s", INT64_C (18014398509481983) * 512 },
  { "9223372036854775807", INT64_MAX },
  { "9223372036854775807b", INT64_MAX },

  /* Nothing parsed. */
  { "", -1, "could not parse size string ()" },
  { " ", -1, "could not parse size string ( )" },
  { "abc", -1, "could not parse size string (abc)" },
  { "k", -1, "could not parse size string (k)" },
  { "+", -1, "could not parse size string (+)" },
  { "-", -1, "could not parse size string (-)" },
  { "+-1", -1, "could not parse size string (+-1)" },

  /* Negative, checked before overflow. */
  { "-1", -1, "size cannot be negative (-1)" },
  { "  -5", -1, "size cannot be negative (  -5)" },
  { "-9223372036854775809", -1,
    "size cannot be negative (-9223372036854775809)" },
  { "-99999999999999999999", -1,
    "size cannot be negative (-99999999999999999999)" },

  /* Number too big for int64_t, checked before the suffix. */
  { "9223372036854775808", -1,
    "size (9223372036854775808) exceeds maximum value" },
  { "18446744073709551616", -1,
    "size (18446744073709551616) exceeds maximum value" },
  { "99999999999999999999x", -1,
    "size (99999999999999999999x) exceeds maximum value" },

  /* Bad suffixes. */
  { "1kb", -1, "could not parse size: unknown suffix 'kb'" },
  { "1KiB", -1, "could not parse size: unknown suffix 'KiB'" },
  { "1.5M", -1, "could not parse size: unknown suffix '.5M'" },
  { "1 ", -1, "could not parse size: unknown suffix ' '" },
  { "2\t", -1, "could not parse size: unknown suffix '\t'" },
  { "1k ", -1, "could not parse size: unknown suffix 'k '" },
  { "1 k", -1, "could not parse size: unknown suffix ' k'" },
  { "0x10", -1, "could not parse size: unknown suffix 'x10'" },
  { "0x", -1, "could not parse size: unknown suffix 'x'" },
  { "1x", -1, "could not parse size: unknown suffix 'x'" },
  { "1Z", -1, "could not parse size: unknown suffix 'Z'" },
  { "1ee", -1, "could not parse size: unknown suffix 'ee'" },

  /* Overflow after scaling. */
  { "8E", -1, "overflow computing size (8E)" },
  { "8192P", -1, "overflow computing size (8192P)" },
  { "8388608T", -1, "overflow computing size (8388608T)" },
  { "18014398509481984s", -1, "overflow computing size (18014398509481984s)" },
  { "9223372036854775807s", -1,
    "overflow computing size (9223372036854775807s)" },
  { "9007199254740992k", -1, "overflow computing size (9007199254740992k)" },
};

static void
test_parse_size (void)
{
  size_t i;

  for (i = 0; i < ARRAY_SIZE (size_tests); ++i) {
    const struct size_test *t = &size_tests[i];
    int64_t r;

    stub_reset ();
    r = nbdkit_parse_size (t->str);
    if (t->err == NULL) {
      CHECK_MSG (r == t->expected, "\"%s\": got %" PRIi64 " expected %" PRIi64,
                 t->str, r, t->expected);
      CHECK_MSG (stub_error_count == 0, "\"%s\": error %s",
                 t->str, stub_last_error);
    }
    else {
      CHECK_MSG (r == -1, "\"%s\": got %" PRIi64, t->str, r);
      CHECK_MSG (stub_error_count == 1 && strcmp (stub_last_error, t->err) == 0,
                 "\"%s\": got error \"%s\" expected \"%s\"",
                 t->str, stub_last_error, t->err);
    }
  }
}

/* ------------------------------------------------------------------
 * nbdkit_parse_bool
 */
static void
test_parse_bool (void)
{
  static const char *const trues[] = {
    "1", "true", "TRUE", "True", "t", "T", "yes", "YES", "y", "Y",
    "on", "ON", "oN",
  };
  static const char *const falses[] = {
    "0", "false", "FALSE", "f", "F", "no", "NO", "n", "N", "off", "OFF",
  };
  static const char *const bad[] = {
    "", " 1", "1 ", "2", "yess", "o", "tr", "01", "00", "enable", "-1",
  };
  char expected[256];
  size_t i;

  for (i = 0; i < ARRAY_SIZE (trues); ++i) {
    stub_reset ();
    CHECK_MSG (nbdkit_parse_bool (trues[i]) == 1, "\"%s\"", trues[i]);
    CHECK_NO_ERROR ();
  }
  for (i = 0; i < ARRAY_SIZE (falses); ++i) {
    stub_reset ();
    CHECK_MSG (nbdkit_parse_bool (falses[i]) == 0, "\"%s\"", falses[i]);
    CHECK_NO_ERROR ();
  }
  for (i = 0; i < ARRAY_SIZE (bad); ++i) {
    stub_reset ();
    CHECK_MSG (nbdkit_parse_bool (bad[i]) == -1, "\"%s\"", bad[i]);
    snprintf (expected, sizeof expected,
              "could not decipher boolean (%s)", bad[i]);
    CHECK_ERROR (expected);
  }
}

/* ------------------------------------------------------------------
 * Integer parsers.  Each row names the parser, the input and either
 * the value or the kind of error; the error text is built from the
 * kind and the quoted string (which for the unsigned parsers has the
 * leading whitespace removed).
 */
enum int_err { OK, EMPTY, GARBAGE, RANGE, NEGATIVE };

struct int_test {
  const char *fn;
  const char *str;
  enum int_err err;
  intmax_t sval;                /* expected value for signed parsers */
  uintmax_t uval;               /* ... and unsigned ones */
  const char *quoted;           /* for GARBAGE/RANGE; NULL = str */
};

#define S(fn, str, v) { #fn, str, OK, v, 0, NULL }
#define U(fn, str, v) { #fn, str, OK, 0, v, NULL }
#define E(fn, str, err) { #fn, str, err, 0, 0, NULL }
#define EQ(fn, str, err, q) { #fn, str, err, 0, 0, q }

static const struct int_test int_tests[] = {
  S (int, "0", 0), S (int, "00", 0), S (int, "1", 1), S (int, "-1", -1),
  S (int, "+1", 1), S (int, " 1", 1), S (int, "\t1", 1), S (int, "\n-7", -7),
  S (int, " -1", -1), S (int, "0x10", 16), S (int, "0X10", 16),
  S (int, "010", 8), S (int, "2147483647", INT32_MAX),
  S (int, "-2147483648", INT32_MIN), S (int, "0x7fffffff", INT32_MAX),
  S (int, "-0x80000000", INT32_MIN), S (int, " +0x7fffffff", INT32_MAX),
  E (int, "", EMPTY), E (int, " ", EMPTY), E (int, "  ", EMPTY),
  E (int, "-", EMPTY), E (int, " -", EMPTY), E (int, "+", EMPTY),
  E (int, "abc", EMPTY),
  E (int, "1 ", GARBAGE), E (int, "1x", GARBAGE), E (int, "0x", GARBAGE),
  E (int, "08", GARBAGE), E (int, "0b1", GARBAGE), E (int, "1e3", GARBAGE),
  E (int, "1.0", GARBAGE), E (int, "0x1g", GARBAGE), E (int, " 1x", GARBAGE),
  E (int, "2147483648", RANGE), E (int, "-2147483649", RANGE),
  E (int, "99999999999999999999", RANGE),
  E (int, "99999999999999999999x", RANGE),  /* range beats garbage */
  E (int, "0x8000000000000000", RANGE),

  U (unsigned, "0", 0), U (unsigned, "1", 1), U (unsigned, "+1", 1),
  U (unsigned, " 5", 5), U (unsigned, "0xff", 255),
  U (unsigned, "4294967295", UINT32_MAX),
  E (unsigned, "-1", NEGATIVE), E (unsigned, " -1", NEGATIVE),
  E (unsigned, "-0", NEGATIVE), E (unsigned, "\t-5", NEGATIVE),
  E (unsigned, "- 1", NEGATIVE), E (unsigned, "-abc", NEGATIVE),
  E (unsigned, "-18446744073709551615", NEGATIVE),
  E (unsigned, "", EMPTY), E (unsigned, "  ", EMPTY), E (unsigned, " +", EMPTY),
  EQ (unsigned, " 1x", GARBAGE, "1x"),
  E (unsigned, "4294967296", RANGE),
  E (unsigned, "18446744073709551615", RANGE),
  E (unsigned, "18446744073709551616", RANGE),

  S (int8_t, "127", 127), S (int8_t, "-128", -128), S (int8_t, "0x7f", 127),
  E (int8_t, "128", RANGE), E (int8_t, "-129", RANGE),
  E (int8_t, "0xff", RANGE), E (int8_t, " 999", RANGE), E (int8_t, "", EMPTY),

  U (uint8_t, "255", 255), U (uint8_t, "0xff", 255), U (uint8_t, "+1", 1),
  E (uint8_t, "256", RANGE), E (uint8_t, "999x", RANGE),
  EQ (uint8_t, " 999", RANGE, "999"), E (uint8_t, "65535", RANGE),
  E (uint8_t, "-1", NEGATIVE),

  S (int16_t, "32767", 32767), S (int16_t, "-32768", -32768),
  E (int16_t, "32768", RANGE), E (int16_t, "-32769", RANGE),

  U (uint16_t, "65535", 65535), U (uint16_t, "256", 256),
  E (uint16_t, "65536", RANGE), E (uint16_t, "-0", NEGATIVE),

  S (int32_t, "-2147483648", INT32_MIN), S (int32_t, "2147483647", INT32_MAX),
  E (int32_t, "2147483648", RANGE), E (int32_t, "-2147483649", RANGE),

  U (uint32_t, "4294967295", UINT32_MAX), U (uint32_t, "65536", 65536),
  E (uint32_t, "4294967296", RANGE), E (uint32_t, "-1", NEGATIVE),

  S (int64_t, "9223372036854775807", INT64_MAX),
  S (int64_t, "-9223372036854775808", INT64_MIN),
  S (int64_t, "0x7fffffffffffffff", INT64_MAX),
  S (int64_t, "-0x8000000000000000", INT64_MIN),
  S (int64_t, "077", 63), S (int64_t, "-077", -63),
  E (int64_t, "9223372036854775808", RANGE),
  E (int64_t, "-9223372036854775809", RANGE),
  E (int64_t, "0xffffffffffffffff", RANGE),

  U (uint64_t, "18446744073709551615", UINT64_MAX),
  U (uint64_t, "0xffffffffffffffff", UINT64_MAX),
  U (uint64_t, "01777777777777777777777", UINT64_MAX),
  U (uint64_t, "4294967296", UINT64_C (4294967296)),
  E (uint64_t, "18446744073709551616", RANGE),
  E (uint64_t, "02000000000000000000000", RANGE),
  EQ (uint64_t, " 0x", GARBAGE, "0x"),
  E (uint64_t, "-1", NEGATIVE),
  E (uint64_t, "-18446744073709551615", NEGATIVE),
};

/* Call the named parser twice, once with r == NULL.  Returns the
 * result of the first call; *sv / *uv get the value it stored (left
 * alone on error, which we check with a sentinel).
 */
#define TRY(name, type)                                                 \
  if (strcmp (fn, #name) == 0) {                                        \
    type v = (type) 42;                                                 \
    int r = nbdkit_parse_##name ("WHAT", str, &v);                      \
    *sv = (intmax_t) v;                                                 \
    *uv = (uintmax_t) v;                                                \
    *r_null = nbdkit_parse_##name ("WHAT", str, NULL);                  \
    return r;                                                           \
  }

static int
call_parser (const char *fn, const char *str, intmax_t *sv, uintmax_t *uv,
             int *r_null)
{
  TRY (int, int)
  TRY (unsigned, unsigned)
  TRY (int8_t, int8_t)
  TRY (uint8_t, uint8_t)
  TRY (int16_t, int16_t)
  TRY (uint16_t, uint16_t)
  TRY (int32_t, int32_t)
  TRY (uint32_t, uint32_t)
  TRY (int64_t, int64_t)
  TRY (uint64_t, uint64_t)
  abort ();
}

static void
test_parse_ints (void)
{
  size_t i;

  for (i = 0; i < ARRAY_SIZE (int_tests); ++i) {
    const struct int_test *t = &int_tests[i];
    bool is_unsigned = t->fn[0] == 'u';
    const char *q = t->quoted ? t->quoted : t->str;
    char expected[256];
    intmax_t sv;
    uintmax_t uv;
    int r, r_null, saved_errno;

    stub_reset ();
    errno = 0;
    r = call_parser (t->fn, t->str, &sv, &uv, &r_null);
    saved_errno = errno;

    if (t->err == OK) {
      CHECK_MSG (r == 0 && r_null == 0, "%s \"%s\": r=%d", t->fn, t->str, r);
      if (is_unsigned)
        CHECK_MSG (uv == t->uval, "%s \"%s\": got %ju expected %ju",
                   t->fn, t->str, uv, t->uval);
      else
        CHECK_MSG (sv == t->sval, "%s \"%s\": got %jd expected %jd",
                   t->fn, t->str, sv, t->sval);
      CHECK_MSG (stub_error_count == 0, "%s \"%s\": %s",
                 t->fn, t->str, stub_last_error);
      continue;
    }

    CHECK_MSG (r == -1 && r_null == -1, "%s \"%s\": r=%d", t->fn, t->str, r);
    CHECK_MSG (sv == 42, "%s \"%s\": *r was changed on error", t->fn, t->str);
    switch (t->err) {
    case EMPTY:
      snprintf (expected, sizeof expected,
                "WHAT: empty string where we expected a number");
      break;
    case GARBAGE:
      snprintf (expected, sizeof expected,
                "WHAT: could not parse number: \"%s\": trailing garbage", q);
      break;
    case RANGE:
      snprintf (expected, sizeof expected,
                "WHAT: could not parse number: \"%s\": "
                "Numerical result out of range", q);
      CHECK_MSG (saved_errno == ERANGE, "%s \"%s\": errno %d",
                 t->fn, t->str, saved_errno);
      break;
    case NEGATIVE:
      snprintf (expected, sizeof expected,
                "WHAT: negative numbers are not allowed");
      break;
    case OK:
      abort ();
    }
    /* Two calls (r and NULL), both must have reported the error. */
    CHECK_MSG (stub_error_count == 2 && strcmp (stub_last_error, expected) == 0,
               "%s \"%s\": got \"%s\" expected \"%s\"",
               t->fn, t->str, stub_last_error, expected);
  }
}

int
main (void)
{
  test_parse_size ();
  test_parse_bool ();
  test_parse_ints ();
  return test_finish ("test-parse");
}
