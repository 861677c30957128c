/* test-utils.c: log_escape (server/utils.c), which makes strings read
 * from the wire safe to put in a log line.
 *
 * Rules: printable ASCII (0x20-0x7e) is kept, except \ ' " which get a
 * backslash; newline, CR and tab become \n \r \t; every other byte
 * becomes \xNN with two lower-case hex digits.  The result never holds
 * a byte outside printable ASCII, and it can be decoded back to the
 * original bytes without ambiguity (checked here by a decoder written
 * from the rules).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stubs.h"

struct row {
  const char *in;
  size_t len;                   /* bytes of in (may hold NULs) */
  const char *out;
};

#define ROW(in, out) { in, sizeof in - 1, out }

static const struct row rows[] = {
  ROW ("", ""),
  ROW ("plain", "plain"),
  ROW ("export-1_a.b:c/d e~", "export-1_a.b:c/d e~"),
  ROW (" !#$%&()*+,-./0123456789:;<=>?@[]^_`{|}~",
       " !#$%&()*+,-./0123456789:;<=>?@[]^_`{|}~"),
  /* Line breaks: a client must not start a new log line. */
  ROW ("a\nb", "a\\nb"),
  ROW ("a\rb", "a\\rb"),
  ROW ("\n", "\\n"),
  ROW ("x\r\nnbdkit: error: forged",
       "x\\r\\nnbdkit: error: forged"),
  ROW ("tab\there", "tab\\there"),
  /* Terminal escape sequences and other control bytes. */
  ROW ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
  ROW ("\x01\x07\x08\x0b\x0c\x1f", "\\x01\\x07\\x08\\x0b\\x0c\\x1f"),
  ROW ("\x7f", "\\x7f"),
  /* An embedded NUL (the length says where the string ends). */
  ROW ("a\0b", "a\\x00b"),
  /* High bytes: invalid UTF-8, valid UTF-8, C1 controls (CSI). */
  ROW ("\xff\xfe\x80", "\\xff\\xfe\\x80"),
  ROW ("caf\xc3\xa9", "caf\\xc3\\xa9"),
  ROW ("\xc2\x9b" "31m", "\\xc2\\x9b" "31m"),
  /* Backslash and quotes: the escaped form is unambiguous. */
  ROW ("\\", "\\\\"),
  ROW ("\\n", "\\\\n"),
  ROW ("\\x41", "\\\\x41"),
  ROW ("it's", "it\\'s"),
  ROW ("say \"hi\"", "say \\\"hi\\\""),
  ROW ("' or '1'='1", "\\' or \\'1\\'=\\'1"),
};

/* Decode an escaped string; returns the byte count or -1 if the input
 * is not something log_escape can produce.
 */
static long
decode (const char *s, char *out)
{
  long n = 0;

  while (*s) {
    unsigned char c = *s++;

    if (c < 0x20 || c > 0x7e || c == '\'' || c == '"')
      return -1;
    if (c != '\\') {
      out[n++] = c;
      continue;
    }
    switch (*s++) {
    case '\\': out[n++] = '\\'; break;
    case '\'': out[n++] = '\''; break;
    case '"': out[n++] = '"'; break;
    case 'n': out[n++] = '\n'; break;
    case 'r': out[n++] = '\r'; break;
    case 't': out[n++] = '\t'; break;
    case 'x': {
      unsigned v = 0;
      int i;

      for (i = 0; i < 2; ++i) {
        char h = *s++;

        if (h >= '0' && h <= '9') v = v * 16 + (h - '0');
        else if (h >= 'a' && h <= 'f') v = v * 16 + (h - 'a' + 10);
        else return -1;
      }
      /* Bytes with a shorter form never use \x. */
      if (v >= 0x20 && v <= 0x7e)
        return -1;
      if (v == '\n' || v == '\r' || v == '\t')
        return -1;
      out[n++] = v;
      break;
    }
    default:
      return -1;
    }
  }
  return n;
}

static void
check_round_trip (const char *in, size_t len)
{
  char *e = log_escape (in, len);
  char *back = malloc (len + 1);
  long n;

  CHECK (e != NULL && back != NULL);
  if (e == NULL || back == NULL) {
    free (e);
    free (back);
    return;
  }
  CHECK_MSG (strlen (e) <= 4 * len, "escaped length %zu for %zu bytes",
             strlen (e), len);
  n = decode (e, back);
  CHECK_MSG (n == (long) len && memcmp (back, in, len) == 0,
             "round trip failed for \"%s\"", e);
  free (e);
  free (back);
}

int
main (void)
{
  size_t i;
  char all[256];
  char *e;

  for (i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    e = log_escape (rows[i].in, rows[i].len);
    CHECK_STREQ (e, rows[i].out);
    free (e);
    check_round_trip (rows[i].in, rows[i].len);
  }

  /* Every byte value, alone and all together. */
  for (i = 0; i < 256; ++i) {
    all[i] = (char) i;
    check_round_trip (&all[i], 1);
  }
  check_round_trip (all, sizeof all);

  /* Only the given length is read. */
  e = log_escape ("abc\ndef", 3);
  CHECK_STREQ (e, "abc");
  free (e);

  /* The longest name the protocol allows, all of it escaped. */
  {
    char *big = malloc (4096);

    CHECK (big != NULL);
    if (big) {
      memset (big, 0x1b, 4096);
      e = log_escape (big, 4096);
      CHECK (e != NULL && strlen (e) == 4 * 4096);
      CHECK (e != NULL && strncmp (e, "\\x1b\\x1b", 8) == 0);
      free (e);
      check_round_trip (big, 4096);
      free (big);
    }
  }

  return test_finish ("test-utils");
}
