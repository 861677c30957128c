/* main.c: not written yet */
typedef int main_placeholder;
