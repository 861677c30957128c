/* protocol.c: not written yet */
typedef int protocol_placeholder;
