/* extents.c: not written yet */
typedef int extents_placeholder;
