/* plugins.c: not written yet */
typedef int plugins_placeholder;
