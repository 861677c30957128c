/* backend.c: not written yet */
typedef int backend_placeholder;
