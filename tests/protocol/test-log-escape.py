#!/usr/bin/python3
# Log injection: strings a client sends (export names, in EXPORT_NAME,
# INFO, GO, LIST_META_CONTEXT and SET_META_CONTEXT) reach the server's
# debug log.  They must appear there escaped: no raw control bytes
# (newline, carriage return, escape sequences) and no raw bytes >= 0x80,
# so a client cannot forge log lines or drive the terminal of whoever
# reads the log.  Backslash and quotes are escaped too, so the logged
# form is unambiguous.  The plugin still sees the name unchanged
# (NBD_INFO_NAME echoes it back).
#
# Escaped form (server/utils.c log_escape): printable ASCII is kept,
# \ ' " become \\ \' \", newline, CR and tab become \n \r \t, any other
# byte becomes \xNN (two lower-case hex digits).

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdraw as R  # noqa: E402

MEM = R.plugin("memory")
SIZE = 1 << 20

FAKE = b"nbdkit: error: forged log line"
NAMES = [
    b"evil\n" + FAKE + b"\r\x1b[31mred\x1b[0m",
    b"cr\ronly\r",
    b"quote' \"double\" back\\slash tab\tdel\x7f high\xff\xc3\xa9 bell\x07",
    b"\n" + FAKE + b"\n",
    # Long enough that the escaped line no longer fits a small buffer.
    b"\x1b" * 4000,
]


def escape(b):
    out = []
    for c in b:
        if c == 0x5c:
            out.append("\\\\")
        elif c == 0x27:
            out.append("\\'")
        elif c == 0x22:
            out.append('\\"')
        elif c == 0x0a:
            out.append("\\n")
        elif c == 0x0d:
            out.append("\\r")
        elif c == 0x09:
            out.append("\\t")
        elif 0x20 <= c <= 0x7e:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def drive(s):
    for name in NAMES:
        c = s.connect()
        c.newstyle_handshake()
        c.opt_structured_reply()
        # LIST and SET_META_CONTEXT carry an export name.
        replies, rtype, _ = c.option(R.OPT_LIST_META_CONTEXT,
                                     c.meta_payload(name, ["base:allocation"]))
        assert rtype == R.REP_ACK, R.rep_name(rtype)
        ctx = c.opt_set_meta_context(name)
        assert "base:allocation" in ctx, ctx
        # INFO: the plugin gets the raw name, and NBD_INFO_NAME echoes it.
        size, _, info = c.opt_go(name, [R.INFO_NAME], opt=R.OPT_INFO)
        assert size == SIZE
        assert info.get(R.INFO_NAME) == name, info.get(R.INFO_NAME)
        # GO with another name: the meta context is dropped, and both
        # names are logged.
        c.opt_go(name + b"-go")
        assert c.read(0, 512) == bytes(512)
        c.disconnect()
        # EXPORT_NAME.
        c = s.connect()
        c.newstyle_handshake()
        c.opt_export_name(name)
        assert c.read(0, 512) == bytes(512)
        c.disconnect()


def check_log(text):
    problems = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines):
        bad = sorted({"%02x" % ord(ch) for ch in line
                      if ord(ch) < 0x20 or ord(ch) == 0x7f})
        if bad:
            problems.append("line %d has raw control bytes %s: %r"
                            % (i + 1, ",".join(bad), line[:200]))
        if "\ufffd" in line or any(ord(ch) > 0x7e for ch in line):
            problems.append("line %d has raw bytes >= 0x80: %r"
                            % (i + 1, line[:200]))
        if not line.startswith("nbdkit: "):
            problems.append("line %d is not a log line of the server: %r"
                            % (i + 1, line[:200]))
        if line.startswith(FAKE.decode()):
            problems.append("line %d is a forged log line: %r" % (i + 1, line[:200]))
    # Every place that logs a client-supplied name logs it escaped.
    for name in NAMES:
        e = escape(name)
        for what in ("NBD_OPT_LIST_META_CONTEXT: client requested export '%s'" % e,
                     "NBD_OPT_SET_META_CONTEXT: client requested export '%s'" % e,
                     "NBD_OPT_INFO: client requested export '%s'" % e,
                     "NBD_OPT_GO: client requested export '%s-go'" % e,
                     "meta contexts were set for export '%s', not '%s-go'" % (e, e),
                     "NBD_OPT_EXPORT_NAME: client requested export '%s'" % e,
                     'open readonly=0 exportname="%s"' % e):
            if what not in text:
                problems.append("escaped name not logged as: %r" % what[:200])
    if problems:
        raise AssertionError("%d problem(s) in the server log:\n  %s" % (
            len(problems), "\n  ".join(problems[:20])))


def main():
    s = R.Server(MEM, "size=%d" % SIZE, extra=("-v",))
    try:
        drive(s)
        s.check_alive(size=SIZE)
    except Exception:
        s.stop()
        print(s.stderr_text()[-3000:])
        raise
    text = s.finish()
    check_log(text)


R.run_cases([("client-supplied names are escaped in the log", main)])
