#!/usr/bin/env python3
# 1000 connections at once, each doing I/O, all served with correct
# data: every connection writes its own block, then (once all have
# written) reads back its own block and its neighbour's, with several
# requests in flight.  Driven from 25 client threads with 40 libnbd
# handles each.  The server runs with the usual default limit of 1024
# file descriptors, which 1000 connections fit in: a connection costs
# one descriptor (it used to cost three).

import resource
import threading
import hlib
from hlib import R

CONNS = 1000
THREADS = 25
BS = 4096


def block(i):
    head = b"connection %05d " % i
    return (head * (BS // len(head) + 1))[:BS]


def many():
    nbd = hlib.need_libnbd()
    hlib.raise_nofile(2 * CONNS + 64)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        srv = R.Server(R.plugin("memory"), "size=64M")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def body(srv):
        handles = [None] * CONNS
        errors = []
        written = threading.Barrier(THREADS)

        def worker(t):
            try:
                mine = range(t, CONNS, THREADS)
                for i in mine:
                    h = nbd.NBD()
                    h.connect_unix(srv.sockpath)
                    handles[i] = h
                for i in mine:
                    handles[i].aio_pwrite(block(i), i * BS)
                for i in mine:
                    while handles[i].aio_in_flight() > 0:
                        handles[i].poll(-1)
                written.wait()
                for i in mine:
                    h = handles[i]
                    j = (i + 1) % CONNS
                    bufs = [(nbd.Buffer(BS), i), (nbd.Buffer(BS), j)]
                    for b, k in bufs:
                        h.aio_pread(b, k * BS)
                    while h.aio_in_flight() > 0:
                        h.poll(-1)
                    for b, k in bufs:
                        if b.to_bytearray() != block(k):
                            errors.append("connection %d: block %d is "
                                          "wrong" % (i, k))
            except Exception as e:
                errors.append("thread %d: %s" % (t, e))
                written.abort()

        ts = [threading.Thread(target=worker, args=(t,))
              for t in range(THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise AssertionError("; ".join(errors[:5]))
        for h in handles:
            h.shutdown()

    R.run_on(srv, body, lambda s: s.check_alive())


hlib.main([("1000 connections doing I/O", many)])
