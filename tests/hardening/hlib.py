# hlib.py: what the hardening tests share.
#
#   import hlib
#   R = hlib.R                      # tests/protocol/nbdraw.py
#   srv = R.Server(hlib.edge_plugin(), "size=8G")
#   nbd = hlib.need_libnbd()        # the libnbd Python bindings, or skip
#
# and a few readings of the server process from /proc.

import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))

import nbdraw as R  # noqa: E402

GiB = 1 << 30
MiB = 1 << 20


def edge_plugin():
    p = os.path.join(R.builddir(), "tests", "hardening", "test-edge-plugin.so")
    if not os.path.exists(p):
        R.skip("test-edge-plugin.so not built")
    return p


def need_libnbd():
    try:
        import nbd
    except ImportError:
        R.skip("the libnbd Python bindings (python3-libnbd) are missing")
    return nbd


def server_binary():
    return os.path.join(R.builddir(), "server", "nbdkit")


def sanitizer_build():
    """True if the server under test uses ASan, whose allocator keeps
    freed memory in quarantine: RSS says nothing then."""
    try:
        out = subprocess.run(["ldd", server_binary()], capture_output=True,
                             text=True).stdout
    except OSError:
        return False
    return "libasan" in out or "libtsan" in out


def skip_if_sanitizer(what):
    if sanitizer_build():
        R.skip("%s: not meaningful under a sanitizer build" % what)


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


def rss_kib(pid):
    return status_field(pid, "VmRSS")


def hwm_kib(pid):
    return status_field(pid, "VmHWM")


def threads(pid):
    return status_field(pid, "Threads")


def cpu_seconds(pid):
    """User + system CPU time of the process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def raise_nofile(need):
    """Raise our own fd limit to at least NEED, or skip."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        R.skip("needs %d file descriptors, the hard limit is %d" % (need, hard))
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def wait_for(cond, what, timeout=120):
    """Poll COND until it is true; fail after TIMEOUT seconds.  Only a
    guard: a test never depends on how fast things happen."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def main(cases):
    R.run_cases(cases)
