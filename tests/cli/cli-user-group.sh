#!/usr/bin/env bash
# -u USER / -g GROUP (names or numbers): the server drops privileges
# after binding its socket.  Needs root.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
[ "$(id -u)" = 0 ] || skip "needs root"
getent passwd nobody >/dev/null || skip "no user nobody"
mem="$(plugin memory)"
nobody_uid="$(id -u nobody)"
nobody_gid="$(id -g nobody)"
nogroup="$(getent group "$nobody_gid" | cut -d: -f1)"
[ -n "$nogroup" ] || skip "no name for group $nobody_gid"

# The pid file is written after the change of user: put it in a
# directory the new user can write.
chmod go+x "$tmpdir"
pubdir="$tmpdir/pub"
mkdir -m 1777 "$pubdir"

n=0
check ()
{
  local want_uid="$1" want_gid="$2"; shift 2
  n=$((n+1))
  local sock="$tmpdir/sock$n" pidfile="$pubdir/pid$n"
  run_bg "$tmpdir/log$n" "$NBDKIT" -f -P "$pidfile" -U "$sock" "$@" "$mem" size=1M
  wait_for "pid file ($*)" pidfile_ready "$pidfile"
  [ "$(cat "$pidfile")" = "$bgpid" ] || fail "$*: pid file"
  # Real and effective ids (first two fields of Uid:/Gid:).
  local uids gids
  uids="$(awk '/^Uid:/ { print $2, $3 }' "/proc/$bgpid/status")"
  gids="$(awk '/^Gid:/ { print $2, $3 }' "/proc/$bgpid/status")"
  [ "$uids" = "$want_uid $want_uid" ] || fail "$*: uids are '$uids', expected $want_uid"
  [ "$gids" = "$want_gid $want_gid" ] || fail "$*: gids are '$gids', expected $want_gid"
  [ "$(nbdinfo --size "nbd+unix:///?socket=$sock")" = 1048576 ] || fail "$*: not usable"
  kill "$bgpid"; wait_gone "$bgpid"
}

check "$nobody_uid" "$nobody_gid" -u nobody -g "$nogroup"
check "$nobody_uid" "$nobody_gid" --user="$nobody_uid" --group="$nobody_gid"
check "$nobody_uid" 0 -u nobody
check 0 "$nobody_gid" -g "$nogroup"

# The supplementary groups of root are dropped too.
n=$((n+1))
run_bg "$tmpdir/log$n" "$NBDKIT" -f -P "$pubdir/pid$n" -U "$tmpdir/sock$n" -u nobody -g "$nogroup" "$mem" size=1M
wait_for "pid file" pidfile_ready "$pubdir/pid$n"
groups="$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$bgpid/status" | tr -s ' ' | sed 's/^ //; s/ $//')"
case " $groups " in
  *" 0 "*) fail "-u/-g: still in supplementary group 0 ($groups)" ;;
esac
kill "$bgpid"; wait_gone "$bgpid"

# Unknown user or group: error.
expect_fail_with 'no-such-user' "$NBDKIT" -f -U "$tmpdir/sx" -u no-such-user-xyz "$mem" size=1M
expect_fail_with 'no-such-group' "$NBDKIT" -f -U "$tmpdir/sy" -g no-such-group-xyz "$mem" size=1M
