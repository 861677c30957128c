#!/usr/bin/python3
# idle-conns.py: hold N idle NBD connections open to a server and
# report the server's memory use meanwhile.
#
#   idle-conns.py SOCKET N PID [SETTLE_SECONDS]
#
# Each connection completes the handshake (libnbd, so NBD_OPT_GO and
# structured replies as a real client would) and then sends nothing.
# After SETTLE_SECONDS (default 1) it prints one line
#   "<VmRSS KiB> <VmHWM KiB> <threads> <fds>"
# of the server process PID, then disconnects them all.
# Part of bench/run-all.sh.

import os
import sys
import time

import nbd


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return (int(fields["VmRSS"][0]), int(fields["VmHWM"][0]),
            int(fields["Threads"][0]), fds)


def main():
    sock, n, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settle = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    handles = []
    for _ in range(n):
        h = nbd.NBD()
        h.connect_unix(sock)
        handles.append(h)
    # every connection really is through the handshake and served
    for h in handles:
        h.get_size()
    time.sleep(settle)
    print(*status(pid))
    sys.stdout.flush()
    for h in handles:
        h.shutdown()
    del handles


if __name__ == "__main__":
    main()
