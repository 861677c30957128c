/* sockets.c: not written yet */
typedef int sockets_placeholder;
