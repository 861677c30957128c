/* options.c: not written yet */
typedef int options_placeholder;
