/* public-parse.c: not written yet */
typedef int public_parse_placeholder;
