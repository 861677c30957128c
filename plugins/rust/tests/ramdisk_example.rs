//! examples/ramdisk.rs, compiled into this test program and driven
//! through its C callbacks as the server would: contents against a
//! model, empty and NULL buffers, requests out of range, extents, and
//! parallel requests on shared words.
//!
//! The example declares the parallel thread model and shares one disk
//! between all threads without a lock, so it must not race: built with
//! ThreadSanitizer (test-rust-tsan.sh) this test program reports no
//! data race.

mod common;

#[path = "../examples/ramdisk.rs"]
mod ramdisk;

use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::ptr;
use std::thread;

use common::serial;
use common::stubs::{self, TestExtents};
use nbdkit::*;

/// The example's plugin, configured with `size` and ready, with one
/// connection open.  The disk is freed by unload at the end.  (Only
/// the callbacks are kept: they can be shared between threads, unlike
/// the Plugin with its raw pointers.)
struct Ramdisk {
    pread: PreadFn,
    pwrite: PwriteFn,
    get_size: extern "C" fn(*mut c_void) -> i64,
    extents: ExtentsFn,
    close: extern "C" fn(*mut c_void),
    unload: extern "C" fn(),
    h: usize,
}

impl Ramdisk {
    fn new(size: &str) -> Ramdisk {
        let p = unsafe { &*ramdisk::plugin_init() };
        let k = CString::new("size").unwrap();
        let v = CString::new(size).unwrap();
        assert_eq!((p.config.unwrap())(k.as_ptr(), v.as_ptr()), 0);
        assert_eq!((p.get_ready.unwrap())(), 0);
        assert_eq!((p.thread_model.unwrap())(), ThreadModel::Parallel);
        let h = (p.open)(0);
        assert!(!h.is_null());
        Ramdisk {
            pread: p.pread,
            pwrite: p.pwrite.unwrap(),
            get_size: p.get_size,
            extents: p.extents.unwrap(),
            close: p.close.unwrap(),
            unload: p.unload.unwrap(),
            h: h as usize,
        }
    }

    fn h(&self) -> *mut c_void {
        self.h as *mut c_void
    }

    fn size(&self) -> usize {
        (self.get_size)(self.h()) as usize
    }

    fn pread(&self, buf: &mut [u8], offset: usize) -> i32 {
        let n = buf.len() as u32;
        (self.pread)(
            self.h(),
            buf.as_mut_ptr() as *mut c_char,
            n,
            offset as u64,
            0,
        )
    }

    fn pwrite(&self, buf: &[u8], offset: usize) -> i32 {
        let n = buf.len() as u32;
        (self.pwrite)(self.h(), buf.as_ptr() as *const c_char, n, offset as u64, 0)
    }

    fn read_all(&self) -> Vec<u8> {
        let mut v = vec![0xaa; self.size()];
        assert_eq!(self.pread(&mut v, 0), 0);
        v
    }

    fn extents(&self, count: u32, offset: u64, flags: u32) -> Vec<(u64, u64, u32)> {
        let mut e = TestExtents {
            start: offset,
            list: Vec::new(),
        };
        let ep = &mut e as *mut TestExtents as *mut Extents;
        assert_eq!((self.extents)(self.h(), count, offset, flags, ep), 0);
        e.list
    }
}

impl Drop for Ramdisk {
    fn drop(&mut self) {
        (self.close)(self.h());
        (self.unload)();
    }
}

/// xorshift64: deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Requests of every alignment and length (partial words at either
/// end, whole words, single bytes, the last partial word of a disk
/// whose size is not a multiple of 8) against a plain Vec.
#[test]
fn contents_match_a_model() {
    let _g = serial();
    let size = 65536 + 5;
    let d = Ramdisk::new(&size.to_string());
    assert_eq!(d.size(), size);
    let mut model = vec![0u8; size];
    assert_eq!(d.read_all(), model);

    let mut rng = Rng(0x9e3779b97f4a7c15);
    for i in 0..3000 {
        let len = match i % 3 {
            0 => rng.below(17),
            1 => rng.below(300),
            _ => rng.below(20000),
        }
        .min(size);
        let off = rng.below(size - len + 1);
        if rng.below(2) == 0 {
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            assert_eq!(d.pwrite(&data, off), 0);
            model[off..off + len].copy_from_slice(&data);
        } else {
            let mut buf = vec![0x55u8; len];
            assert_eq!(d.pread(&mut buf, off), 0);
            assert_eq!(buf, &model[off..off + len], "read of {len} at {off}");
        }
    }
    assert_eq!(d.read_all(), model);
    assert!(stubs::take_errors().is_empty());
}

/// A 0-byte request may come with a NULL buffer; no slice is made from
/// it.  A NULL buffer with bytes, or a request beyond the end, is an
/// error, not a crash.
#[test]
fn empty_null_and_out_of_range_requests() {
    let _g = serial();
    let d = Ramdisk::new("4096");
    let h = d.h();
    assert_eq!((d.pread)(h, ptr::null_mut(), 0, 0, 0), 0);
    assert_eq!((d.pread)(h, ptr::null_mut(), 0, 4096, 0), 0);
    assert_eq!((d.pwrite)(h, ptr::null(), 0, 100, 0), 0);
    assert!(stubs::take_errors().is_empty());

    assert_eq!((d.pread)(h, ptr::null_mut(), 8, 0, 0), -1);
    assert_eq!((d.pwrite)(h, ptr::null(), 8, 0, 0), -1);
    let mut buf = [0u8; 16];
    assert_eq!(d.pread(&mut buf, 4090), -1);
    assert_eq!(d.pwrite(&buf, 4090), -1);
    assert_eq!(d.pread(&mut buf, usize::MAX - 4), -1);
    let errors = stubs::take_errors();
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(errors[0].contains("NULL buffer"), "{errors:?}");
    assert!(errors[2].contains("beyond the end"), "{errors:?}");
    assert_eq!(stubs::take_errno(), errno::EINVAL);
    assert_eq!(d.read_all(), vec![0; 4096]);
}

#[test]
fn extents_report_zero_blocks() {
    let _g = serial();
    let d = Ramdisk::new("1M");
    assert_eq!(d.extents(1 << 20, 0, 0), vec![(0, 1 << 20, 2)]);
    // One non-zero byte makes its 4 KiB block data.
    assert_eq!(d.pwrite(&[1], 3 * 4096 + 7), 0);
    assert_eq!(
        d.extents(1 << 20, 0, 0),
        vec![
            (0, 3 * 4096, 2),
            (3 * 4096, 4096, 0),
            (4 * 4096, (1 << 20) - 4 * 4096, 2)
        ]
    );
    // From inside a block, and REQ_ONE.
    assert_eq!(
        d.extents(4096, 3 * 4096 + 100, Flags::REQ_ONE.bits()),
        vec![(3 * 4096, 4096, 0)]
    );
    // Only the blocks the request touches are looked at.
    assert_eq!(
        d.extents(512, 100, Flags::REQ_ONE.bits()),
        vec![(0, 4096, 2)]
    );
    // Zero it again.
    assert_eq!(d.pwrite(&[0], 3 * 4096 + 7), 0);
    assert_eq!(d.extents(8192, 12288, 0), vec![(12288, 8192, 2)]);
}

/// Threads write and read the same words at once, as the parallel
/// thread model allows.  Writer k owns bytes 2k and 2k+1 of every word
/// and writes them (only them) with one 2-byte request per word, so
/// every word is shared by four writers: partial-word writes must not
/// lose each other's bytes.  A whole-word writer fills another region
/// with one value per request while readers check that no word of it
/// is ever torn.
#[test]
fn parallel_requests_on_shared_words() {
    let _g = serial();
    const WORDS: usize = 256;
    const ROUNDS: usize = 40;
    let d = Ramdisk::new("64K");
    let region = WORDS * 8;
    thread::scope(|s| {
        for k in 0..4usize {
            let d = &d;
            s.spawn(move || {
                for round in 1..=ROUNDS {
                    let v = (round * 4 + k) as u8;
                    for w in 0..WORDS {
                        assert_eq!(d.pwrite(&[v, v], w * 8 + 2 * k), 0);
                    }
                }
            });
        }
        let d = &d;
        s.spawn(move || {
            for round in 1..=ROUNDS * 8 {
                let buf = vec![round as u8; region];
                assert_eq!(d.pwrite(&buf, region), 0);
            }
        });
        for _ in 0..2 {
            s.spawn(move || {
                let mut buf = vec![0u8; 2 * region];
                for _ in 0..ROUNDS * 4 {
                    assert_eq!(d.pread(&mut buf, 0), 0);
                    for pair in buf[..region].chunks_exact(2) {
                        assert_eq!(pair[0], pair[1], "a 2-byte write was torn");
                    }
                    for word in buf[region..].chunks_exact(8) {
                        assert!(word.iter().all(|&b| b == word[0]), "torn word {word:?}");
                    }
                }
            });
        }
    });
    let all = d.read_all();
    for w in 0..WORDS {
        for k in 0..4 {
            let v = (ROUNDS * 4 + k) as u8;
            assert_eq!(all[w * 8 + 2 * k..w * 8 + 2 * k + 2], [v, v], "word {w}");
        }
    }
    assert!(all[region..2 * region]
        .iter()
        .all(|&b| b == (ROUNDS * 8) as u8));
    assert!(stubs::take_errors().is_empty());
}
