/* exports.c: not written yet */
typedef int exports_placeholder;
