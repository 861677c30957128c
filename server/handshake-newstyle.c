/* handshake-newstyle.c: not written yet */
typedef int handshake_newstyle_placeholder;
