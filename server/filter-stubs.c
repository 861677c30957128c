/* filter-stubs.c: not written yet */
typedef int filter_stubs_placeholder;
