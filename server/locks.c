/* locks.c: not written yet */
typedef int locks_placeholder;
