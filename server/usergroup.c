/* usergroup.c: not written yet */
typedef int usergroup_placeholder;
