/* handshake.c: not written yet */
typedef int handshake_placeholder;
