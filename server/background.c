/* background.c: not written yet */
typedef int background_placeholder;
