/* usergroup.c: -u USER and -g GROUP.
 *
 * Privileges are dropped after the sockets are bound (so a privileged
 * port can be used) and before any connection is served.  The group
 * goes first: once the uid changes we could no longer change it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "internal.h"

static uid_t
parse_user (const char *user)
{
  struct passwd *pw;
  unsigned id;

  errno = 0;
  pw = getpwnam (user);
  if (pw)
    return pw->pw_uid;
  if (nbdkit_parse_unsigned ("-u", user, &id) == 0)
    return id;
  fatal ("-u: unknown user: %s", user);
}

static gid_t
parse_group (const char *group)
{
  struct group *gr;
  unsigned id;

  errno = 0;
  gr = getgrnam (group);
  if (gr)
    return gr->gr_gid;
  if (nbdkit_parse_unsigned ("-g", group, &id) == 0)
    return id;
  fatal ("-g: unknown group: %s", group);
}

/* As in nbdkit, -u changes only the user and -g only the group; but
 * either drops the supplementary groups (root's, typically), leaving
 * just the primary group.
 */
void
change_user (void)
{
  gid_t gid;
  uid_t uid = (uid_t) -1;

  if (config.user == NULL && config.group == NULL)
    return;

  if (config.user)
    uid = parse_user (config.user);
  gid = config.group ? parse_group (config.group) : getgid ();

  if (setgroups (1, &gid) == -1)
    fatal ("setgroups: %m");
  if (config.group) {
    if (setgid (gid) == -1)
      fatal ("setgid: %m");
    debug ("changed group to %u", (unsigned) gid);
  }
  if (uid != (uid_t) -1) {
    if (setuid (uid) == -1)
      fatal ("setuid: %m");
    debug ("changed user to %u", (unsigned) uid);
  }
}
