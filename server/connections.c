/* connections.c: not written yet */
typedef int connections_placeholder;
