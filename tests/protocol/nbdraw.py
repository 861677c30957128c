# nbdraw.py: a tiny NBD client speaking the wire protocol directly over a
# socket, for feeding a server correct and deliberately malformed input.
#
# Written for this project from the NBD protocol description
# (shared/spec/protocol.md).  Everything on the wire is big-endian.
#
# Typical use in a test:
#
#   import nbdraw as R
#   srv = R.Server(R.plugin("memory"), "size=1M")      # starts $NBDKIT -f -U
#   c = srv.connect()
#   c.newstyle_handshake()
#   c.opt_structured_reply()
#   size, eflags = c.opt_go("")
#   c.write(0, b"x" * 512)
#   assert c.read(0, 512) == b"x" * 512
#   srv.check_alive()                                  # fresh client works
#   srv.stop()

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

# ---- constants ---------------------------------------------------------

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
OLDSTYLE_MAGIC = 0x00420281861253
REP_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668E33EF

FLAG_FIXED_NEWSTYLE = 1
FLAG_NO_ZEROES = 2
FLAG_C_FIXED_NEWSTYLE = 1
FLAG_C_NO_ZEROES = 2

OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_LIST = 3
OPT_PEEK_EXPORT = 4
OPT_STARTTLS = 5
OPT_INFO = 6
OPT_GO = 7
OPT_STRUCTURED_REPLY = 8
OPT_LIST_META_CONTEXT = 9
OPT_SET_META_CONTEXT = 10
OPT_EXTENDED_HEADERS = 11

REP_ACK = 1
REP_SERVER = 2
REP_INFO = 3
REP_META_CONTEXT = 4
REP_ERR_BASE = 1 << 31
REP_ERR_UNSUP = REP_ERR_BASE + 1
REP_ERR_POLICY = REP_ERR_BASE + 2
REP_ERR_INVALID = REP_ERR_BASE + 3
REP_ERR_PLATFORM = REP_ERR_BASE + 4
REP_ERR_TLS_REQD = REP_ERR_BASE + 5
REP_ERR_UNKNOWN = REP_ERR_BASE + 6
REP_ERR_SHUTDOWN = REP_ERR_BASE + 7
REP_ERR_BLOCK_SIZE_REQD = REP_ERR_BASE + 8
REP_ERR_TOO_BIG = REP_ERR_BASE + 9

INFO_EXPORT = 0
INFO_NAME = 1
INFO_DESCRIPTION = 2
INFO_BLOCK_SIZE = 3

EFLAG_HAS_FLAGS = 0x0001
EFLAG_READ_ONLY = 0x0002
EFLAG_SEND_FLUSH = 0x0004
EFLAG_SEND_FUA = 0x0008
EFLAG_ROTATIONAL = 0x0010
EFLAG_SEND_TRIM = 0x0020
EFLAG_SEND_WRITE_ZEROES = 0x0040
EFLAG_SEND_DF = 0x0080
EFLAG_CAN_MULTI_CONN = 0x0100
EFLAG_SEND_RESIZE = 0x0200
EFLAG_SEND_CACHE = 0x0400
EFLAG_SEND_FAST_ZERO = 0x0800

CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2
CMD_FLUSH = 3
CMD_TRIM = 4
CMD_CACHE = 5
CMD_WRITE_ZEROES = 6
CMD_BLOCK_STATUS = 7

CMD_FLAG_FUA = 0x01
CMD_FLAG_NO_HOLE = 0x02
CMD_FLAG_DF = 0x04
CMD_FLAG_REQ_ONE = 0x08
CMD_FLAG_FAST_ZERO = 0x10

REPLY_FLAG_DONE = 1
REPLY_TYPE_NONE = 0
REPLY_TYPE_OFFSET_DATA = 1
REPLY_TYPE_OFFSET_HOLE = 2
REPLY_TYPE_BLOCK_STATUS = 5
REPLY_TYPE_ERROR = (1 << 15) + 1
REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2

EPERM = 1
EIO = 5
ENOMEM = 12
EINVAL = 22
ENOSPC = 28
EOVERFLOW = 75
ENOTSUP = 95
ESHUTDOWN = 108

# Generous guard timeout for every blocking socket operation.  Tests
# never assert on durations; this only stops a hung test.
TIMEOUT = 60.0

DEBIAN_PLUGINDIR = "/usr/lib/x86_64-linux-gnu/nbdkit/plugins"


class ProtocolError(Exception):
    pass


class Closed(Exception):
    """The peer closed the connection (EOF or reset)."""


def rep_name(t):
    names = {REP_ACK: "ACK", REP_SERVER: "SERVER", REP_INFO: "INFO",
             REP_META_CONTEXT: "META_CONTEXT",
             REP_ERR_UNSUP: "ERR_UNSUP", REP_ERR_POLICY: "ERR_POLICY",
             REP_ERR_INVALID: "ERR_INVALID", REP_ERR_PLATFORM: "ERR_PLATFORM",
             REP_ERR_TLS_REQD: "ERR_TLS_REQD", REP_ERR_UNKNOWN: "ERR_UNKNOWN",
             REP_ERR_SHUTDOWN: "ERR_SHUTDOWN",
             REP_ERR_BLOCK_SIZE_REQD: "ERR_BLOCK_SIZE_REQD",
             REP_ERR_TOO_BIG: "ERR_TOO_BIG"}
    return names.get(t, "0x%x" % t)


# ---- environment -------------------------------------------------------

def srcdir():
    return os.environ.get("SRCDIR") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))


def builddir():
    return os.environ.get("BUILDDIR") or os.path.join(srcdir(), "build")


def nbdkit():
    return os.environ.get("NBDKIT") or os.path.join(builddir(), "nbdkit")


def is_debian_server():
    return os.path.realpath(nbdkit()) == "/usr/bin/nbdkit"


def skip(msg):
    print("%s: SKIP: %s" % (sys.argv[0], msg))
    sys.exit(77)


def plugin(name):
    """Path of plugin NAME: the one built in this tree if present, else
    Debian's binary plugin (both load in either server)."""
    p = os.path.join(builddir(), "plugins", name, "nbdkit-%s-plugin.so" % name)
    if os.path.exists(p):
        return p
    p = os.path.join(DEBIAN_PLUGINDIR, "nbdkit-%s-plugin.so" % name)
    if os.path.exists(p):
        return p
    skip("plugin %s not available" % name)


# ---- connection --------------------------------------------------------

class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.structured = False
        self.cookie = 0

    @classmethod
    def unix(cls, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(path)
        return cls(s)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- raw I/O --
    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            except ConnectionResetError as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed("EOF after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def expect_closed(self, what=""):
        """Assert the server closes the connection: reading yields EOF
        (anything the server still sends first is drained and ignored,
        up to a bound).  Fails if the connection stays open until the
        guard timeout."""
        drained = 0
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return
            except socket.timeout:
                raise AssertionError("connection not closed by server %s" % what)
            if not chunk:
                return
            drained += len(chunk)
            if drained > (1 << 27):
                raise AssertionError("server keeps sending data %s" % what)

    # -- handshake --
    def read_greeting(self):
        """Read the first 16 bytes; returns 'newstyle' with handshake
        flags, or 'oldstyle' with (size, flags)."""
        magic, second = struct.unpack(">QQ", self.recv_exact(16))
        if magic != NBDMAGIC:
            raise ProtocolError("bad NBDMAGIC 0x%x" % magic)
        if second == IHAVEOPT:
            (gflags,) = struct.unpack(">H", self.recv_exact(2))
            self.gflags = gflags
            return ("newstyle", gflags)
        if second == OLDSTYLE_MAGIC:
            size, flags = struct.unpack(">QI", self.recv_exact(12))
            zeroes = self.recv_exact(124)
            return ("oldstyle", (size, flags, zeroes))
        raise ProtocolError("unknown second magic 0x%x" % second)

    def newstyle_handshake(self, cflags=None):
        kind, gflags = self.read_greeting()
        if kind != "newstyle":
            raise ProtocolError("expected newstyle server")
        if cflags is None:
            cflags = gflags & (FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)
        self.cflags = cflags
        self.send(struct.pack(">I", cflags))
        return gflags

    def send_option(self, opt, data=b"", length=None, magic=IHAVEOPT):
        if length is None:
            length = len(data)
        self.send(struct.pack(">QII", magic, opt, length) + data)

    def read_option_reply(self):
        magic, opt, rtype, length = struct.unpack(">QIII", self.recv_exact(20))
        if magic != REP_MAGIC:
            raise ProtocolError("bad option reply magic 0x%x" % magic)
        payload = self.recv_exact(length) if length else b""
        return opt, rtype, payload

    def option(self, opt, data=b""):
        """Send an option and collect replies until the final one.
        Returns (list of (rtype, payload) non-final replies, final rtype,
        final payload)."""
        self.send_option(opt, data)
        replies = []
        while True:
            ropt, rtype, payload = self.read_option_reply()
            if ropt != opt:
                raise ProtocolError("reply for option %d, expected %d" % (ropt, opt))
            if rtype == REP_ACK or rtype & REP_ERR_BASE:
                return replies, rtype, payload
            replies.append((rtype, payload))

    def opt_structured_reply(self):
        _, rtype, _ = self.option(OPT_STRUCTURED_REPLY)
        if rtype != REP_ACK:
            raise ProtocolError("STRUCTURED_REPLY refused: %s" % rep_name(rtype))
        self.structured = True

    @staticmethod
    def info_payload(name, infos=()):
        nb = name.encode() if isinstance(name, str) else name
        return (struct.pack(">I", len(nb)) + nb + struct.pack(">H", len(infos))
                + b"".join(struct.pack(">H", i) for i in infos))

    @staticmethod
    def meta_payload(name, queries):
        nb = name.encode() if isinstance(name, str) else name
        out = struct.pack(">I", len(nb)) + nb + struct.pack(">I", len(queries))
        for q in queries:
            qb = q.encode()
            out += struct.pack(">I", len(qb)) + qb
        return out

    def opt_set_meta_context(self, name="", queries=("base:allocation",)):
        replies, rtype, payload = self.option(
            OPT_SET_META_CONTEXT, self.meta_payload(name, queries))
        if rtype != REP_ACK:
            raise ProtocolError("SET_META_CONTEXT: %s" % rep_name(rtype))
        ctx = {}
        for t, p in replies:
            if t == REP_META_CONTEXT:
                (cid,) = struct.unpack(">I", p[:4])
                ctx[p[4:].decode()] = cid
        return ctx

    def opt_go(self, name="", infos=(), opt=OPT_GO):
        """GO (or INFO): returns (size, eflags, {info_type: payload})."""
        replies, rtype, payload = self.option(opt, self.info_payload(name, infos))
        if rtype != REP_ACK:
            raise ProtocolError("%s refused: %s %r" % (
                "GO" if opt == OPT_GO else "INFO", rep_name(rtype), payload))
        info = {}
        for t, p in replies:
            if t == REP_INFO:
                (it,) = struct.unpack(">H", p[:2])
                info[it] = p[2:]
        if INFO_EXPORT not in info or len(info[INFO_EXPORT]) != 10:
            raise ProtocolError("no valid NBD_INFO_EXPORT before ACK")
        size, eflags = struct.unpack(">QH", info[INFO_EXPORT])
        self.size, self.eflags = size, eflags
        return size, eflags, info

    def opt_export_name(self, name=""):
        nb = name.encode() if isinstance(name, str) else name
        self.send_option(OPT_EXPORT_NAME, nb)
        size, eflags = struct.unpack(">QH", self.recv_exact(10))
        if not (self.cflags & FLAG_C_NO_ZEROES):
            z = self.recv_exact(124)
            if z != bytes(124):
                raise ProtocolError("EXPORT_NAME padding is not zero")
        self.size, self.eflags = size, eflags
        return size, eflags

    # -- transmission --
    def next_cookie(self):
        self.cookie += 1
        return self.cookie

    def send_request(self, cmd, offset=0, length=0, flags=0, payload=b"",
                     cookie=None, magic=REQUEST_MAGIC):
        if cookie is None:
            cookie = self.next_cookie()
        self.send(struct.pack(">IHHQQI", magic, flags, cmd, cookie, offset,
                              length) + payload)
        return cookie

    def read_simple_reply(self, datalen=0):
        """Read one simple reply.  DATALEN bytes of data are read only if
        error == 0.  Returns (error, cookie, data)."""
        magic, err, cookie = struct.unpack(">IIQ", self.recv_exact(16))
        if magic != SIMPLE_REPLY_MAGIC:
            raise ProtocolError("expected simple reply, got magic 0x%x" % magic)
        data = self.recv_exact(datalen) if (err == 0 and datalen) else b""
        return err, cookie, data

    def read_chunk(self):
        """Read one structured reply chunk: (flags, type, cookie, payload)."""
        magic, flags, rtype, cookie, length = struct.unpack(
            ">IHHQI", self.recv_exact(20))
        if magic != STRUCTURED_REPLY_MAGIC:
            raise ProtocolError("expected structured chunk, got magic 0x%x" % magic)
        payload = self.recv_exact(length) if length else b""
        return flags, rtype, cookie, payload

    def read_reply_any(self, datalen=0):
        """Read a reply that may be simple or structured (the server may
        answer non-READ commands with a simple reply even with SR).
        DATALEN is the data length of a successful simple reply, or a
        function of the cookie giving it.  Returns (error, cookie, data,
        chunks)."""
        (magic,) = struct.unpack(">I", self.recv_exact(4))
        if magic == SIMPLE_REPLY_MAGIC:
            err, cookie = struct.unpack(">IQ", self.recv_exact(12))
            if callable(datalen):
                datalen = datalen(cookie)
            data = self.recv_exact(datalen) if (err == 0 and datalen) else b""
            return err, cookie, data, None
        if magic != STRUCTURED_REPLY_MAGIC:
            raise ProtocolError("bad reply magic 0x%x" % magic)
        flags, rtype, cookie, length = struct.unpack(">HHQI", self.recv_exact(16))
        payload = self.recv_exact(length) if length else b""
        chunks = [(flags, rtype, cookie, payload)]
        while not (flags & REPLY_FLAG_DONE):
            flags, rtype, c2, payload = self.read_chunk()
            if c2 != cookie:
                raise ProtocolError("interleaved chunk for another cookie")
            chunks.append((flags, rtype, c2, payload))
        err = 0
        data = bytearray()
        for f, t, c, p in chunks:
            if t & (1 << 15):
                (err,) = struct.unpack(">I", p[:4])
            elif t == REPLY_TYPE_OFFSET_DATA:
                data += p[8:]
        return err, cookie, bytes(data), chunks

    def request(self, cmd, offset=0, length=0, flags=0, payload=b""):
        """Send a request and wait for its reply.  Returns (error, data)."""
        cookie = self.send_request(cmd, offset, length, flags, payload)
        datalen = length if cmd == CMD_READ else 0
        err, rcookie, data, _ = self.read_reply_any(datalen)
        if rcookie != cookie:
            raise ProtocolError("reply cookie %d != %d" % (rcookie, cookie))
        return err, data

    def read(self, offset, length, flags=0):
        err, data = self.request(CMD_READ, offset, length, flags)
        if err:
            raise ProtocolError("read failed with error %d" % err)
        if len(data) != length:
            raise ProtocolError("short read %d != %d" % (len(data), length))
        return data

    def write(self, offset, data, flags=0):
        err, _ = self.request(CMD_WRITE, offset, len(data), flags, data)
        if err:
            raise ProtocolError("write failed with error %d" % err)

    def disconnect(self):
        try:
            self.send_request(CMD_DISC)
        except Closed:
            pass
        self.close()


# ---- server ------------------------------------------------------------

def wait_until(cond, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class Server:
    """Run $NBDKIT in the foreground on a private Unix socket."""

    def __init__(self, *args, extra=(), stderr=None):
        self.tmpdir = tempfile.mkdtemp(prefix="nbdraw.")
        self.sockpath = os.path.join(self.tmpdir, "sock")
        self.errpath = os.path.join(self.tmpdir, "stderr")
        cmd = [nbdkit(), "-f", "-U", self.sockpath] + list(extra) + list(args)
        self.errfile = open(self.errpath, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.errfile)
        self.cmd = cmd
        self.conns = []

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("server exited early (%s): %s\n%s" % (
                    self.proc.returncode, " ".join(cmd), self.stderr_text()))
            if not os.path.exists(self.sockpath):
                return False
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sockpath)
            except OSError:
                s.close()
                return False
            # Leave the probe connection cleanly so that the server
            # has nothing to complain about.
            c = Conn(s)
            try:
                kind, info = c.read_greeting()
                if kind == "newstyle":
                    c.send(struct.pack(">I", info & 3))
                    if info & FLAG_FIXED_NEWSTYLE:
                        c.send_option(OPT_ABORT)
                        c.read_option_reply()
                else:
                    c.send_request(CMD_DISC)
            except (OSError, Closed, ProtocolError, struct.error):
                pass
            finally:
                c.close()
            return True
        try:
            wait_until(ready, "server to listen on " + self.sockpath)
        except BaseException:
            self.stop()
            raise

    def stderr_text(self):
        if getattr(self, "final_stderr", None) is not None:
            return self.final_stderr
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def connect(self):
        c = Conn.unix(self.sockpath)
        self.conns.append(c)
        return c

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self, size=None, data_check=True):
        """The server process still runs and a fresh, correct client
        completes the handshake, writes (if writable) and reads back."""
        if not self.alive():
            raise AssertionError("server died (status %s)\n%s" % (
                self.proc.returncode, self.stderr_text()))
        c = self.connect()
        try:
            c.newstyle_handshake()
            c.opt_structured_reply()
            sz, eflags, _ = c.opt_go("")
            if size is not None and sz != size:
                raise AssertionError("export size %d != %d" % (sz, size))
            if data_check and sz >= 4096:
                off = sz - 4096
                if not (eflags & EFLAG_READ_ONLY):
                    pat = bytes((i * 7 + 3) & 0xff for i in range(4096))
                    c.write(off, pat)
                    if c.read(off, 4096) != pat:
                        raise AssertionError("read back different data")
                else:
                    c.read(0, 4096)
            c.disconnect()
        finally:
            c.close()

    def stop(self):
        """Close our client connections, SIGTERM the server, wait for it.
        Returns its exit status."""
        for c in self.conns:
            c.close()
        self.conns = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                # A shutdown hang: finish() reports it as a failure.
                self.hung = True
                self.proc.kill()
                self.proc.wait()
        if not self.errfile.closed:
            self.errfile.close()
        self.final_stderr = self.stderr_text()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        return self.proc.returncode

    def finish(self):
        """Stop the server and check it ended well: exit status 0 after
        SIGTERM and no crash/sanitizer report on stderr.  Returns stderr."""
        st = self.stop()
        text = self.stderr_text()
        if getattr(self, "hung", False):
            raise AssertionError(
                "server did not exit within %d s of SIGTERM (shutdown hang); "
                "killed with SIGKILL\n%s" % (TIMEOUT, text))
        bad = [w for w in ("Assertion", "AddressSanitizer", "LeakSanitizer",
                           "runtime error:", "Segmentation fault",
                           "stack smashing", "double free")
               if w in text]
        if bad or st != 0:
            raise AssertionError("server ended badly (status %s): %s\n%s" % (
                st, ", ".join(bad), text))
        return text

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def run_on(server, body, check):
    """Run BODY(server) then CHECK(server); stop the server and check it
    ended well.  Failures carry the tail of the server's stderr."""
    try:
        try:
            body(server)
            check(server)
        finally:
            server.stop()
        server.finish()
    except Exception as e:
        tail = server.stderr_text()[-3000:]
        raise type(e)("%s\n--- server stderr (%s) ---\n%s" % (
            e, " ".join(server.cmd), tail)) from e


def run_cases(cases):
    """Run each (name, function) in order; report and exit 1 on the first
    failure, 0 if all pass."""
    failed = 0
    for name, fn in cases:
        try:
            fn()
            print("PASS: %s" % name, flush=True)
        except Exception as e:
            failed += 1
            print("FAIL: %s: %s: %s" % (name, type(e).__name__, e), flush=True)
    sys.exit(1 if failed else 0)
