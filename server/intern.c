/* intern.c: not written yet */
typedef int intern_placeholder;
