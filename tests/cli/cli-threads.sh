#!/usr/bin/env bash
# -t N: number of requests of one connection served at once (parallel
# thread model).  Uses Debian's sh plugin with a script whose pread
# records how many preads are active at the same time.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdsh --version
sh_plugin="$(debian_plugin sh)"

d="$tmpdir/state"
mkdir "$d"
script="$tmpdir/conc.sh"
cat > "$script" <<EOF_SCRIPT
#!/bin/bash
d='$d'
case "\$1" in
  thread_model) echo parallel ;;
  get_size) echo 1M ;;
  can_write) exit 3 ;;
  pread)
    touch "\$d/active.\$\$"
    ls "\$d" | grep -c '^active' >> "\$d/counts"
    if [ -f "\$d/barrier" ]; then
      # Wait (guard: 30 s) until a second pread is active at the same time.
      for i in \$(seq 300); do
        n=\$(ls "\$d" | grep -c '^active')
        if [ "\$n" -ge 2 ] || [ ! -f "\$d/barrier" ]; then
          echo reached >> "\$d/barrier-log"; rm -f "\$d/barrier"; break
        fi
        sleep 0.1
      done
    else
      sleep 0.2
      ls "\$d" | grep -c '^active' >> "\$d/counts"
    fi
    rm -f "\$d/active.\$\$"
    dd if=/dev/zero count=\$3 iflag=count_bytes 2>/dev/null
    ;;
  *) exit 2 ;;
esac
EOF_SCRIPT
chmod +x "$script"

client='
bufs = [nbd.Buffer(512) for i in range(4)]
for i in range(4):
    h.aio_pread(bufs[i], i * 512)
while h.aio_in_flight() > 0:
    h.poll(-1)
'

# -t 1: requests are served one at a time.
rm -f "$d"/*
"$NBDKIT" -U - -t 1 "$sh_plugin" "$script" --run "nbdsh -u \"\$uri\" -c '$client'" ||
  fail "-t 1: client failed"
max="$(sort -n "$d/counts" | tail -1)"
[ "$max" = 1 ] || fail "-t 1: $max preads ran at once"

# -t 4 and the default (16): requests of one connection run concurrently.
for t in "-t 4" "--threads=4" ""; do
  rm -f "$d"/*
  touch "$d/barrier"
  "$NBDKIT" -U - $t "$sh_plugin" "$script" --run "nbdsh -u \"\$uri\" -c '$client'" ||
    fail "'$t': client failed"
  grep -q reached "$d/barrier-log" 2>/dev/null ||
    fail "'$t': preads never ran concurrently"
done

# Not a number: a clear error.
expect_fail_with 'threads' "$NBDKIT" -f -U "$tmpdir/s" -t abc "$sh_plugin" "$script"
