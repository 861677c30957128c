#!/usr/bin/env python3
# Stalled clients slow nobody else down:
#  - one client sends half a request header and goes silent, another
#    half an option header in the handshake, a third stops reading its
#    replies (its writes back up); meanwhile 20 other clients each do
#    100 writes and reads and all complete with correct data;
#  - then SIGTERM: the server exits 0 even though one client never
#    reads (the writer blocked on it is cut off after a grace period)
#    and the half-header clients never finish.

import signal
import subprocess
import struct
import threading
import hlib
from hlib import R, MiB

BS = 4096


def stalled():
    nbd = hlib.need_libnbd()
    srv = R.Server(R.plugin("memory"), "size=64M")

    def body(srv):
        # Half a request header.
        a = srv.connect()
        a.newstyle_handshake()
        a.opt_go("")
        a.send(struct.pack(">IHH", R.REQUEST_MAGIC, 0, R.CMD_READ))
        # Half an option header.
        b = srv.connect()
        b.read_greeting()
        b.send(struct.pack(">I", R.FLAG_C_FIXED_NEWSTYLE))
        b.send(struct.pack(">Q", R.IHAVEOPT)[:5])
        # Never reads its replies: 64 reads of 1 MiB.
        c = srv.connect()
        c.newstyle_handshake()
        c.opt_go("")
        for i in range(64):
            c.send_request(R.CMD_READ, i * MiB % (64 * MiB), MiB)

        errors = []

        def client(k):
            try:
                h = nbd.NBD()
                h.connect_unix(srv.sockpath)
                for i in range(100):
                    data = bytes([k, i & 255]) * (BS // 2)
                    off = (k * 100 + i) * BS
                    h.pwrite(data, off)
                    if h.pread(BS, off) != data:
                        errors.append("client %d: bad data" % k)
                h.shutdown()
            except Exception as e:
                errors.append("client %d: %s" % (k, e))
        ts = [threading.Thread(target=client, args=(k,)) for k in range(20)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
            if t.is_alive():
                raise AssertionError("a client was held up")
        if errors:
            raise AssertionError("; ".join(errors[:5]))
        # The server must exit although a, b and c are still connected.
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit within 120 s of "
                                 "SIGTERM")

    R.run_on(srv, body, lambda s: None)


hlib.main([("stalled clients", stalled)])
