#!/usr/bin/python3
# Connections that go away at awkward moments: disconnects with
# requests in flight, and 64 connections opened and dropped at once,
# with and without completing the handshake.  The server must survive,
# keep acknowledged writes, serve other clients correctly throughout,
# and stop cleanly.

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdraw as R  # noqa: E402

MEM = R.plugin("memory")
SIZE = 64 << 20
CHUNK = 65536
ROUNDS = 10
NCONN = 64


def client(s, sr=True):
    c = s.connect()
    c.newstyle_handshake()
    if sr:
        c.opt_structured_reply()
    c.opt_go("")
    return c


class Witness:
    """A long-lived client that keeps its own region (the last MiB) and
    checks it between cases: other clients' misbehaviour must not
    disturb it."""

    def __init__(self, s):
        self.c = client(s)
        # (check_alive writes near the end of the disk: keep away.)
        self.off = 40 << 20
        self.data = os.urandom(1 << 20)
        self.c.write(self.off, self.data)

    def check(self, what):
        try:
            got = self.c.read(self.off, len(self.data))
        except (R.Closed, R.ProtocolError) as e:
            raise AssertionError("witness connection broken %s: %s" % (what, e))
        if got != self.data:
            raise AssertionError("witness data changed %s" % what)


def close_with_reads_in_flight(s, w):
    for i in range(ROUNDS):
        c = client(s, sr=(i % 2 == 0))
        for j in range(32):
            c.send_request(R.CMD_READ, j * CHUNK, CHUNK)
        c.close()
    w.check("after closing with reads in flight")
    s.check_alive()


def close_with_writes_in_flight(s, w):
    # Writes whose replies were received must be on the disk afterwards;
    # the others may or may not have happened.
    region = 8 << 20
    for i in range(ROUNDS):
        c = client(s)
        blocks = {}
        cookies = {}
        for j in range(32):
            data = os.urandom(CHUNK)
            off = region + j * CHUNK
            cookies[c.send_request(R.CMD_WRITE, off, CHUNK, payload=data)] = j
            blocks[j] = (off, data)
        acked = []
        # Take a few replies, then hang up with the rest in flight.
        for _ in range(4):
            err, cookie, _, _ = c.read_reply_any()
            assert err == 0, err
            acked.append(cookies[cookie])
        c.close()
        v = client(s)
        for j in acked:
            off, data = blocks[j]
            if v.read(off, CHUNK) != data:
                raise AssertionError("acknowledged write %d lost" % j)
        v.disconnect()
    w.check("after closing with writes in flight")


def disc_with_requests_in_flight(s, w):
    # NBD_CMD_DISC after a batch of requests: whatever replies come
    # before the server closes must be well-formed answers to our
    # requests, and the connection must then be closed.
    for i in range(ROUNDS):
        c = client(s)
        sent = set()
        for j in range(8):
            sent.add(c.send_request(R.CMD_READ, j * CHUNK, CHUNK))
        data = os.urandom(4096)
        wcookie = c.send_request(R.CMD_WRITE, 16 << 20, 4096, payload=data)
        sent.add(wcookie)
        c.send_request(R.CMD_DISC)
        got = set()
        wacked = False
        while True:
            try:
                err, cookie, _, _ = c.read_reply_any(
                    lambda ck: 0 if ck == wcookie else CHUNK)
            except R.Closed:
                break
            assert cookie in sent and cookie not in got, cookie
            # Completed, or refused because the connection is closing.
            assert err in (0, R.ESHUTDOWN), err
            got.add(cookie)
            if cookie == wcookie and err == 0:
                wacked = True
        if wacked:
            v = client(s)
            assert v.read(16 << 20, 4096) == data, "acknowledged write lost"
            v.disconnect()
    w.check("after DISC with requests in flight")


def many_connections_no_handshake(s, w):
    for _ in range(3):
        conns = [s.connect() for _ in range(NCONN)]
        for c in conns:
            c.close()
    w.check("after %d connections dropped unopened" % NCONN)
    # Some read the greeting, some send partial client flags.
    conns = [s.connect() for _ in range(NCONN)]
    for i, c in enumerate(conns):
        c.read_greeting()
        if i % 2:
            c.send(b"\0\0")
    for c in conns:
        c.close()
    w.check("after %d connections dropped during the greeting" % NCONN)
    s.check_alive()


def many_connections_mid_handshake(s, w):
    conns = []
    for i in range(NCONN):
        c = s.connect()
        c.newstyle_handshake()
        if i % 3 == 0:
            c.opt_structured_reply()
        elif i % 3 == 1:
            c.send_option(R.OPT_GO, b"\0" * 4, length=100)  # incomplete
        conns.append(c)
    for c in conns:
        c.close()
    w.check("after %d connections dropped mid-handshake" % NCONN)
    s.check_alive()


def many_connections_open(s, w):
    # 64 fully open connections at the same time, each used while all
    # are open, then all dropped at once (some with a request in flight).
    conns = [client(s, sr=(i % 2 == 0)) for i in range(NCONN)]
    for i, c in enumerate(conns):
        off = (24 << 20) + i * 4096
        data = struct.pack(">I", i) * 1024
        c.write(off, data)
    for i, c in enumerate(conns):
        off = (24 << 20) + i * 4096
        assert c.read(off, 4096) == struct.pack(">I", i) * 1024, "connection %d" % i
    for i, c in enumerate(conns):
        if i % 2:
            c.send_request(R.CMD_READ, 0, CHUNK)
    for c in conns:
        c.close()
    w.check("after %d open connections dropped" % NCONN)
    v = client(s)
    for i in range(NCONN):
        off = (24 << 20) + i * 4096
        assert v.read(off, 4096) == struct.pack(">I", i) * 1024
    v.disconnect()
    s.check_alive()


def main():
    s = R.Server(MEM, "size=%d" % SIZE)
    cases = [
        ("close with reads in flight", close_with_reads_in_flight),
        ("close with writes in flight", close_with_writes_in_flight),
        ("DISC with requests in flight", disc_with_requests_in_flight),
        ("64 connections dropped before/at the greeting", many_connections_no_handshake),
        ("64 connections dropped mid-handshake", many_connections_mid_handshake),
        ("64 open connections dropped at once", many_connections_open),
    ]
    failed = 0
    try:
        w = Witness(s)
        results = []
        for name, fn in cases:
            results.append((name, (lambda fn=fn: fn(s, w))))
        for name, fn in results:
            try:
                fn()
                print("PASS: %s" % name, flush=True)
            except Exception as e:
                failed += 1
                print("FAIL: %s: %s: %s" % (name, type(e).__name__, e), flush=True)
                try:
                    s.proc.wait(timeout=1)
                except Exception:
                    pass
                if not s.alive():
                    print("server died (status %s):\n%s" % (
                        s.proc.returncode, s.stderr_text()[-3000:]), flush=True)
                    break
        if s.alive():
            try:
                w.check("at the end")
            except AssertionError as e:
                failed += 1
                print("FAIL: witness at the end: %s" % e, flush=True)
    finally:
        s.stop()
    try:
        s.finish()
        print("PASS: clean stop")
    except AssertionError as e:
        failed += 1
        print("FAIL: clean stop: %s" % e)
    sys.exit(1 if failed else 0)


main()
