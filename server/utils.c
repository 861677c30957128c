/* utils.c: not written yet */
typedef int utils_placeholder;
