/* threadlocal.c: not written yet */
typedef int threadlocal_placeholder;
