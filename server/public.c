/* public.c: not written yet */
typedef int public_placeholder;
