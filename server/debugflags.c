/* debugflags.c: not written yet */
typedef int debugflags_placeholder;
