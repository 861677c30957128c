/* handshake-oldstyle.c: not written yet */
typedef int handshake_oldstyle_placeholder;
