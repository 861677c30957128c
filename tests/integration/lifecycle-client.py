#!/usr/bin/python3
# lifecycle-client.py URI
#
# One connection that uses every part of the protocol the test plugin
# can see, in a fixed order, so that the plugin's call log is
# predictable: LIST, INFO (with name, description and block size),
# GO, then one request of each kind.  Prints what the client saw.

import sys

import nbd

h = nbd.NBD()
h.set_opt_mode(True)
h.set_full_info(True)
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(sys.argv[1])

exports = []
h.opt_list(lambda name, desc: exports.append((name, desc)))
print("exports=%r" % exports)

h.opt_info()
print("info: name=%s description=%s size=%d" %
      (h.get_canonical_export_name(), h.get_export_description(),
       h.get_size()))

h.opt_go()
print("go: size=%d block_size=%d:%d:%d" %
      (h.get_size(), h.get_block_size(nbd.SIZE_MINIMUM),
       h.get_block_size(nbd.SIZE_PREFERRED),
       h.get_block_size(nbd.SIZE_MAXIMUM)))
for flag in ["is_read_only", "can_flush", "can_trim", "can_zero",
             "can_fast_zero", "can_fua", "can_cache", "can_multi_conn",
             "can_df", "is_rotational"]:
    print("%s=%s" % (flag, getattr(h, flag)()))

h.pwrite(b"A" * 4096, 0)
assert h.pread(4096, 0) == b"A" * 4096
h.flush()
h.trim(4096, 8192)
h.zero(4096, 12288)
h.cache(4096, 0)

# Adjacent extents of the same type are merged here: whether the
# server merges them is not part of the protocol.
extents = []


def extent_cb(ctx, off, entries, err):
    for i in range(0, len(entries), 2):
        if extents and extents[-1][1] == entries[i + 1]:
            extents[-1][0] += entries[i]
        else:
            extents.append([entries[i], entries[i + 1]])


h.block_status(16384, 0, extent_cb)
print("extents=%r" % extents)

h.pwrite(b"B" * 512, 0, nbd.CMD_FLAG_FUA)
assert h.pread(512, 0) == b"B" * 512
h.shutdown()
print("done")
