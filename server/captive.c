/* captive.c: not written yet */
typedef int captive_placeholder;
