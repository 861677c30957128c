/* socket-activation.c: not written yet */
typedef int socket_activation_placeholder;
