/* quit.c: not written yet */
typedef int quit_placeholder;
