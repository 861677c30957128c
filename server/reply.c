/* reply.c: not written yet */
typedef int reply_placeholder;
