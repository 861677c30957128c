#!/usr/bin/python3
# Malformed and unusual input during the newstyle handshake, from a raw
# socket.  After each case the server must still run and serve a normal
# client with correct data, and it must stop cleanly at the end.

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdraw as R  # noqa: E402

MEM = R.plugin("memory")
SIZE = 1 << 20


def server(*extra):
    return R.Server(MEM, "size=%d" % SIZE, extra=extra)


def run(body, *extra):
    """Start a server, run BODY(server), check it is alive and usable,
    then stop it and check it ended well."""
    R.run_on(server(*extra), body, lambda s: s.check_alive(size=SIZE))


def expect_rep(rtype, want, what):
    if isinstance(want, int):
        want = (want,)
    if rtype not in want:
        raise AssertionError("%s: got %s, expected %s" % (
            what, R.rep_name(rtype), "/".join(R.rep_name(w) for w in want)))


def expect_exact_reply(c, opt, rtype, what):
    """The next bytes are exactly one option reply to OPT of type RTYPE
    with no payload (20 bytes)."""
    got = c.recv_exact(20)
    want = struct.pack(">QIII", R.REP_MAGIC, opt, rtype, 0)
    if got != want:
        raise AssertionError("%s: got reply %s, expected %s (%s, no payload)"
                             % (what, got.hex(), want.hex(), R.rep_name(rtype)))


def expect_error_reply(c, opt, rtype, what):
    """One error reply to OPT of type RTYPE whose payload, if any, is a
    human-readable message (printable ASCII)."""
    ropt, got, payload = c.read_option_reply()
    if (ropt, got) != (opt, rtype):
        raise AssertionError("%s: got %s for option %d, expected %s for %d" % (
            what, R.rep_name(got), ropt, R.rep_name(rtype), opt))
    if any(b < 0x20 or b > 0x7e for b in payload):
        raise AssertionError("%s: error message is not text: %r" % (what, payload))


def expect_hangup(c, what, reset_ok=False):
    """The server closes the connection without sending anything more:
    EOF (or, if RESET_OK, a reset, which is how the kernel reports a
    close with some of our bytes left unread)."""
    try:
        data = c.sock.recv(65536)
    except ConnectionResetError:
        if reset_ok:
            return
        raise AssertionError("%s: connection reset, expected EOF" % what)
    except OSError as e:
        raise AssertionError("%s: connection not closed: %s" % (what, e))
    if data:
        raise AssertionError("%s: unexpected bytes before the hang-up: %s" % (
            what, data[:64].hex()))


# ---- greeting and client flags -----------------------------------------

def greeting(s):
    c = s.connect()
    kind, gflags = c.read_greeting()
    assert kind == "newstyle", kind
    assert gflags == (R.FLAG_FIXED_NEWSTYLE | R.FLAG_NO_ZEROES), gflags


def unknown_client_flags(s):
    for cflags in (0x4, 0x7, 0x80000003, 0xffffffff):
        c = s.connect()
        c.newstyle_handshake(cflags=cflags)
        try:
            c.send_option(R.OPT_LIST)
        except R.Closed:
            pass
        c.expect_closed("after client flags 0x%x" % cflags)


def short_client_flags(s):
    # Only 2 of the 4 bytes of client flags, then hang up.
    c = s.connect()
    c.read_greeting()
    c.send(b"\0\0")
    c.close()


def hang_up_at_once(s):
    for _ in range(5):
        c = s.connect()
        c.close()
    c = s.connect()
    c.read_greeting()
    c.close()


# ---- option framing ----------------------------------------------------

def wrong_option_magic(s):
    for magic in (0, 0x1234, R.IHAVEOPT ^ 1, R.REP_MAGIC):
        c = s.connect()
        c.newstyle_handshake()
        c.send_option(R.OPT_LIST, magic=magic)
        c.expect_closed("after option magic 0x%x" % magic)


def huge_option_length(s):
    for opt in (R.OPT_GO, R.OPT_INFO, R.OPT_LIST, 99):
        c = s.connect()
        c.newstyle_handshake()
        # Announce 4 GiB - 1 of payload, send only a little.
        c.send_option(opt, b"x" * 16, length=0xffffffff)
        c.expect_closed("after option %d with length 0xffffffff" % opt)


def truncated_option(s):
    # Option header announces 100 bytes, 10 are sent, then EOF.
    c = s.connect()
    c.newstyle_handshake()
    c.send_option(R.OPT_GO, b"\0" * 10, length=100)
    c.sock.shutdown(1)   # SHUT_WR
    c.expect_closed("after a truncated option")


def unknown_option(s):
    # Unknown options (including 4 = withdrawn PEEK_EXPORT and 11 =
    # EXTENDED_HEADERS, which nbdkit 1.32 does not implement) are
    # answered ERR_UNSUP and their payload is skipped: the next option
    # on the same connection works.
    c = s.connect()
    c.newstyle_handshake()
    for opt, payload in ((99, b"y" * 1000), (R.OPT_PEEK_EXPORT, b""),
                         (0x7fffffff, b"\0" * 4096), (12345, b"\1" * 100000)):
        _, rtype, _ = c.option(opt, payload)
        expect_rep(rtype, R.REP_ERR_UNSUP, "unknown option %d" % opt)
    # The payload was consumed: a normal GO and data work now.
    c.opt_structured_reply()
    size, eflags, _ = c.opt_go("")
    assert size == SIZE
    c.write(0, b"u" * 512)
    assert c.read(0, 512) == b"u" * 512


def option_limit(s):
    # nbdkit answers at most 32 options on one connection, then drops it.
    c = s.connect()
    c.newstyle_handshake()
    answered = 0
    try:
        for _ in range(200):
            c.send_option(99, b"abc")
            c.read_option_reply()
            answered += 1
    except R.Closed:
        pass
    assert answered == 32, "%d options answered before the limit" % answered
    c.expect_closed("after too many options")


def abort(s):
    # The protocol: ABORT is answered with ACK, then the server closes.
    # Nothing may follow the ACK; the close is a clean EOF.  Any data
    # sent with ABORT is ignored (still ACK, still closed).
    c = s.connect()
    c.newstyle_handshake()
    c.send_option(R.OPT_ABORT)
    expect_exact_reply(c, R.OPT_ABORT, R.REP_ACK, "ABORT")
    expect_hangup(c, "after ABORT")
    # With a payload, after other options.
    c = s.connect()
    c.newstyle_handshake()
    c.opt_structured_reply()
    c.send_option(R.OPT_ABORT, b"ignored payload")
    expect_exact_reply(c, R.OPT_ABORT, R.REP_ACK, "ABORT with a payload")
    expect_hangup(c, "after ABORT with a payload", reset_ok=True)


# ---- individual options ------------------------------------------------

def list_exports(s):
    c = s.connect()
    c.newstyle_handshake()
    # LIST with data: ERR_INVALID, payload consumed.
    replies, rtype, _ = c.option(R.OPT_LIST, b"abcdef")
    expect_rep(rtype, R.REP_ERR_INVALID, "LIST with data")
    assert replies == []
    # A proper LIST: the default export "", then ACK.  (nbdkit 1.32
    # refuses a second LIST on the same connection, so only one here.)
    replies, rtype, _ = c.option(R.OPT_LIST)
    expect_rep(rtype, R.REP_ACK, "LIST")
    assert len(replies) == 1, replies
    t, p = replies[0]
    assert t == R.REP_SERVER
    (nlen,) = struct.unpack(">I", p[:4])
    assert nlen == 0 and len(p) >= 4, p
    c.opt_go("")
    assert c.read(0, 512) == bytes(512)


def starttls(s):
    # TLS is not configured (this server has no TLS yet, as with
    # --tls=off).  In that mode the protocol allows ERR_POLICY or
    # ERR_UNSUP; ERR_UNSUP is what a server says about options it does
    # not know at all, while a server that knows STARTTLS but has TLS
    # turned off says ERR_POLICY.  Debian's nbdkit 1.32.5 (built with
    # TLS) answers ERR_POLICY, with or without --tls=off, so that is the
    # answer.  STARTTLS carries no data: with data it is ERR_INVALID
    # (Debian's too).  The payload is consumed and negotiation goes on
    # in plain text.
    c = s.connect()
    c.newstyle_handshake()
    cases = [
        (b"", R.REP_ERR_POLICY, "STARTTLS"),
        (b"junk", R.REP_ERR_INVALID, "STARTTLS with data"),
        (b"", R.REP_ERR_POLICY, "STARTTLS again"),
    ]
    for payload, rtype, what in cases:
        c.send_option(R.OPT_STARTTLS, payload)
        expect_error_reply(c, R.OPT_STARTTLS, rtype, what)
    c.opt_structured_reply()
    c.opt_go("")
    assert c.read(0, 512) == bytes(512)


def structured_reply_with_data(s):
    c = s.connect()
    c.newstyle_handshake()
    _, rtype, _ = c.option(R.OPT_STRUCTURED_REPLY, b"x")
    expect_rep(rtype, R.REP_ERR_INVALID, "STRUCTURED_REPLY with data")
    _, rtype, _ = c.option(R.OPT_STRUCTURED_REPLY)
    expect_rep(rtype, R.REP_ACK, "STRUCTURED_REPLY")
    c.structured = True
    c.opt_go("")
    assert c.read(0, 512) == bytes(512)


def meta_context(s):
    c = s.connect()
    c.newstyle_handshake()
    q = c.meta_payload("", ["base:allocation"])
    # SET needs structured replies first.
    _, rtype, _ = c.option(R.OPT_SET_META_CONTEXT, q)
    expect_rep(rtype, R.REP_ERR_INVALID, "SET_META_CONTEXT without SR")
    # LIST is allowed without them; zero queries list everything.
    replies, rtype, _ = c.option(R.OPT_LIST_META_CONTEXT, c.meta_payload("", []))
    expect_rep(rtype, R.REP_ACK, "LIST_META_CONTEXT")
    names = [p[4:] for t, p in replies if t == R.REP_META_CONTEXT]
    assert b"base:allocation" in names, names
    # Inconsistent lengths.
    _, rtype, _ = c.option(R.OPT_LIST_META_CONTEXT, struct.pack(">I", 50) + b"ab")
    expect_rep(rtype, R.REP_ERR_INVALID, "LIST_META_CONTEXT name length too big")
    _, rtype, _ = c.option(R.OPT_LIST_META_CONTEXT,
                           struct.pack(">II", 0, 3) + struct.pack(">I", 4) + b"base")
    expect_rep(rtype, R.REP_ERR_INVALID, "LIST_META_CONTEXT query count too big")
    c.opt_structured_reply()
    ctx = c.opt_set_meta_context()
    assert "base:allocation" in ctx, ctx
    # Unknown contexts are ignored, not errors.
    replies, rtype, _ = c.option(R.OPT_SET_META_CONTEXT,
                                 c.meta_payload("", ["nosuch:context"]))
    expect_rep(rtype, R.REP_ACK, "SET_META_CONTEXT unknown context")
    assert replies == [], replies
    ctx = c.opt_set_meta_context()
    c.opt_go("")
    err, _ = c.request(R.CMD_BLOCK_STATUS, 0, 65536)
    assert err == 0, err


def info_and_go_lengths(s):
    c = s.connect()
    c.newstyle_handshake()
    good = c.info_payload("", [])
    cases = [
        ("payload shorter than the fields", good[:-1]),
        ("extra bytes after the fields", good + b"zz"),
        ("name length past the end", struct.pack(">I", 100) + b"ab" + struct.pack(">H", 0)),
        ("request count past the end", struct.pack(">IH", 0, 5) + b"\0\1"),
        ("empty payload", b""),
        ("odd-length info list", struct.pack(">IH", 0, 1) + b"\0"),
    ]
    for opt in (R.OPT_INFO, R.OPT_GO):
        for what, payload in cases:
            replies, rtype, _ = c.option(opt, payload)
            expect_rep(rtype, R.REP_ERR_INVALID, "%s: %s" % (
                "INFO" if opt == R.OPT_INFO else "GO", what))
    # Still in the handshake: INFO with all info requests, then GO.
    size, eflags, info = c.opt_go("", [R.INFO_NAME, R.INFO_DESCRIPTION,
                                       R.INFO_BLOCK_SIZE, 1234], opt=R.OPT_INFO)
    assert size == SIZE
    assert eflags & R.EFLAG_HAS_FLAGS
    if R.INFO_BLOCK_SIZE in info:
        mn, pref, mx = struct.unpack(">III", info[R.INFO_BLOCK_SIZE])
        assert mn <= pref <= mx, (mn, pref, mx)
    size, eflags, _ = c.opt_go("")
    assert size == SIZE
    assert c.read(0, 512) == bytes(512)


def long_export_names(s):
    # 4096 bytes is the maximum string length; longer names are refused.
    c = s.connect()
    c.newstyle_handshake()
    _, rtype, _ = c.option(R.OPT_INFO, c.info_payload("a" * 4097))
    expect_rep(rtype, R.REP_ERR_INVALID, "INFO with a 4097-byte name")
    _, rtype, _ = c.option(R.OPT_GO, c.info_payload("b" * 5000))
    expect_rep(rtype, R.REP_ERR_INVALID, "GO with a 5000-byte name")
    _, rtype, _ = c.option(R.OPT_LIST_META_CONTEXT,
                           c.meta_payload("c" * 5000, ["base:allocation"]))
    expect_rep(rtype, R.REP_ERR_INVALID, "LIST_META_CONTEXT with a 5000-byte name")
    # A 4096-byte name is fine (the memory plugin serves any name).
    size, _, _ = c.opt_go("d" * 4096, opt=R.OPT_INFO)
    assert size == SIZE
    c.opt_go("")
    # EXPORT_NAME cannot report errors: the server hangs up.
    c = s.connect()
    c.newstyle_handshake()
    c.send_option(R.OPT_EXPORT_NAME, b"e" * 5000)
    c.expect_closed("after EXPORT_NAME with a 5000-byte name")


def export_name_zeroes(s):
    # NO_ZEROES agreed: size + flags only.
    c = s.connect()
    c.newstyle_handshake(cflags=R.FLAG_C_FIXED_NEWSTYLE | R.FLAG_C_NO_ZEROES)
    c.send_option(R.OPT_EXPORT_NAME, b"")
    size, eflags = struct.unpack(">QH", c.recv_exact(10))
    assert size == SIZE and eflags & R.EFLAG_HAS_FLAGS
    # The very next bytes are the reply to our request, not padding.
    cookie = c.send_request(R.CMD_READ, 0, 512)
    err, rc, data = c.read_simple_reply(512)
    assert (err, rc, data) == (0, cookie, bytes(512)), (err, rc)
    c.disconnect()
    # Without NO_ZEROES: 124 zero bytes of padding.
    for cflags in (R.FLAG_C_FIXED_NEWSTYLE, 0):
        c = s.connect()
        c.newstyle_handshake(cflags=cflags)
        c.send_option(R.OPT_EXPORT_NAME, b"")
        size, eflags = struct.unpack(">QH", c.recv_exact(10))
        assert size == SIZE
        assert c.recv_exact(124) == bytes(124)
        cookie = c.send_request(R.CMD_READ, 0, 512)
        err, rc, data = c.read_simple_reply(512)
        assert (err, rc, data) == (0, cookie, bytes(512))
        c.disconnect()


def non_fixed_client(s):
    # A client that did not set FIXED_NEWSTYLE may only use EXPORT_NAME.
    # Every other option (ABORT included) is answered with a bare
    # ERR_INVALID, its payload is consumed and the connection stays in
    # the handshake; EXPORT_NAME then works, with the 124 zero bytes
    # (the client did not set NO_ZEROES).  Debian's nbdkit 1.32.5 does
    # exactly this for options without a payload, but it does not read
    # the payload of a refused option (it takes it for the next option
    # header and hangs up); the protocol says a payload is always
    # consumed, so we do.
    c = s.connect()
    c.newstyle_handshake(cflags=0)
    cases = [
        (R.OPT_LIST, b""),
        (R.OPT_ABORT, b""),
        (R.OPT_STARTTLS, b""),
        (R.OPT_STRUCTURED_REPLY, b""),
        (R.OPT_INFO, c.info_payload("", [R.INFO_NAME])),
        (R.OPT_GO, c.info_payload("")),
        (R.OPT_LIST_META_CONTEXT, c.meta_payload("", ["base:allocation"])),
        (R.OPT_ABORT, b"xyz"),
        (99, b"q" * 1000),
    ]
    for opt, payload in cases:
        c.send_option(opt, payload)
        expect_exact_reply(c, opt, R.REP_ERR_INVALID,
                           "option %d from a non-fixed client" % opt)
    c.send_option(R.OPT_EXPORT_NAME, b"")
    size, eflags = struct.unpack(">QH", c.recv_exact(10))
    assert size == SIZE and eflags & R.EFLAG_HAS_FLAGS, (size, eflags)
    assert c.recv_exact(124) == bytes(124)
    cookie = c.send_request(R.CMD_READ, 0, 512)
    assert c.read_simple_reply(512) == (0, cookie, bytes(512))
    c.disconnect()


def go_then_data(s):
    # After GO the server sends nothing more until the first request
    # (no padding after the ACK).
    c = s.connect()
    c.newstyle_handshake()
    c.opt_go("")
    cookie = c.send_request(R.CMD_READ, 4096, 512)
    err, rc, data = c.read_simple_reply(512)
    assert (err, rc, data) == (0, cookie, bytes(512)), (err, rc)


def read_only_flags(s):
    c = s.connect()
    c.newstyle_handshake()
    size, eflags, _ = c.opt_go("")
    assert eflags & R.EFLAG_READ_ONLY, hex(eflags)
    err, _ = c.request(R.CMD_WRITE, 0, 512, payload=b"w" * 512)
    assert err == R.EPERM, err


R.run_cases([
    ("greeting flags", lambda: run(greeting)),
    ("unknown client flags", lambda: run(unknown_client_flags)),
    ("short client flags", lambda: run(short_client_flags)),
    ("hang up at once", lambda: run(hang_up_at_once)),
    ("wrong option magic", lambda: run(wrong_option_magic)),
    ("huge option length", lambda: run(huge_option_length)),
    ("truncated option", lambda: run(truncated_option)),
    ("unknown options", lambda: run(unknown_option)),
    ("option limit", lambda: run(option_limit)),
    ("ABORT", lambda: run(abort)),
    ("LIST", lambda: run(list_exports)),
    ("STARTTLS refused", lambda: run(starttls)),
    ("STRUCTURED_REPLY with data", lambda: run(structured_reply_with_data)),
    ("meta contexts", lambda: run(meta_context)),
    ("INFO/GO inconsistent lengths", lambda: run(info_and_go_lengths)),
    ("long export names", lambda: run(long_export_names)),
    ("EXPORT_NAME padding", lambda: run(export_name_zeroes)),
    ("non-fixed newstyle client", lambda: run(non_fixed_client)),
    ("GO then data", lambda: run(go_then_data)),
    ("read-only export", lambda: run(read_only_flags, "-r")),
])
