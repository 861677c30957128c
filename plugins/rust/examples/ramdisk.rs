// ramdisk: a RAM disk plugin written to the raw API, in the style of
// nbdkit-rust-plugin(3).
//
//   cargo build --release --example ramdisk
//   nbdkit ./target/release/examples/libramdisk.so size=100M
//
// The disk is one zeroed allocation shared by all connections, and the
// plugin declares the parallel thread model: requests on one or many
// connections read and write it at the same time, with no lock.
//
// Plain memory copies in and out of shared memory that other threads
// write at the same time would be a data race, which is undefined
// behaviour in Rust (as in C), and a `&[u8]` over such memory would
// claim that nobody changes it.  So the disk is an array of `AtomicU64`
// words, read and written with relaxed atomic loads and stores.  On
// x86-64 and aarch64 those are ordinary 8-byte moves, so the data path
// stays as fast as a memcpy loop, and it is sound: concurrent
// overlapping requests can interleave (word by word), which is the
// client's problem with any disk, but nothing undefined happens.  A
// write that covers only part of a word merges its bytes in with a
// compare-and-swap, so it never disturbs the neighbouring bytes.
//
// Extents are reported by looking for all-zero 4 KiB blocks.
//
// Callbacks are declared `extern fn`, as in the manual (and as plugins
// for nbdkit's original bindings were); that means `extern "C" fn`.

#![allow(missing_abi)]

extern crate nbdkit;

use std::alloc::{self, Layout};
use std::mem::MaybeUninit;
use std::ptr;
use std::slice;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};

use nbdkit::ThreadModel::*;
use nbdkit::*;

static SIZE: AtomicU64 = AtomicU64::new(100 * 1024 * 1024);
static DISK: AtomicPtr<Disk> = AtomicPtr::new(ptr::null_mut());

const BLOCK: usize = 4096;
const WORD: usize = 8;

/// The disk: byte `i` is byte `i % 8` (in memory order) of word
/// `i / 8`.  Bytes past `size` in the last word stay zero.
struct Disk {
    words: Box<[AtomicU64]>,
    size: usize,
}

impl Disk {
    /// A zeroed disk.  The memory comes from the allocator already
    /// zeroed (calloc), so pages nobody writes are never touched; an
    /// all-zero `AtomicU64` is a valid 0.
    fn new(size: usize) -> Option<Disk> {
        let n = (size + WORD - 1) / WORD;
        if n == 0 {
            return Some(Disk {
                words: Box::new([]),
                size,
            });
        }
        let layout = Layout::array::<AtomicU64>(n).ok()?;
        let p = unsafe { alloc::alloc_zeroed(layout) } as *mut AtomicU64;
        if p.is_null() {
            return None;
        }
        // A Box<[T]> of n elements frees with Layout::array::<T>(n).
        let words = unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, n)) };
        Some(Disk { words, size })
    }

    fn load(&self, w: usize) -> [u8; WORD] {
        self.words[w].load(Relaxed).to_ne_bytes()
    }

    /// Stores `bytes` at byte `lo` of word `w`, leaving the rest of the
    /// word as it is, even if another thread writes it meanwhile.
    fn merge(&self, w: usize, lo: usize, bytes: &[u8]) {
        let _ = self.words[w].fetch_update(Relaxed, Relaxed, |old| {
            let mut b = old.to_ne_bytes();
            b[lo..lo + bytes.len()].copy_from_slice(bytes);
            Some(u64::from_ne_bytes(b))
        });
    }

    /// Checks that `[offset, offset + len)` is inside the disk.  The
    /// server has already done so; this keeps a bad call from indexing
    /// out of bounds (a panic, which must not reach the server).
    fn check(&self, offset: u64, len: usize) -> Result<usize> {
        match usize::try_from(offset) {
            Ok(o) if o <= self.size && len <= self.size - o => Ok(o),
            _ => Err(Error::new(
                errno::EINVAL,
                format!("request beyond the end of the disk: {len} bytes at {offset}"),
            )),
        }
    }

    /// Copies the disk from `offset` into `buf`.  `buf` is the server's
    /// buffer, which starts out uninitialised: only ever write to it.
    fn read(&self, offset: u64, buf: &mut [MaybeUninit<u8>]) -> Result<()> {
        let offset = self.check(offset, buf.len())?;
        let (head, rest) = buf.split_at_mut(head_len(offset, buf.len()));
        let (body, tail) = rest.split_at_mut(rest.len() - rest.len() % WORD);
        let mut w = offset / WORD;
        if !head.is_empty() {
            let lo = offset % WORD;
            put(head, &self.load(w)[lo..lo + head.len()]);
            w += 1;
        }
        for (dst, word) in body.chunks_exact_mut(WORD).zip(&self.words[w..]) {
            put(dst, &word.load(Relaxed).to_ne_bytes());
        }
        w += body.len() / WORD;
        if !tail.is_empty() {
            put(tail, &self.load(w)[..tail.len()]);
        }
        Ok(())
    }

    /// Copies `buf` into the disk at `offset`.
    fn write(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let offset = self.check(offset, buf.len())?;
        let (head, rest) = buf.split_at(head_len(offset, buf.len()));
        let (body, tail) = rest.split_at(rest.len() - rest.len() % WORD);
        let mut w = offset / WORD;
        if !head.is_empty() {
            self.merge(w, offset % WORD, head);
            w += 1;
        }
        for (src, word) in body.chunks_exact(WORD).zip(&self.words[w..]) {
            let mut b = [0; WORD];
            b.copy_from_slice(src);
            word.store(u64::from_ne_bytes(b), Relaxed);
        }
        w += body.len() / WORD;
        if !tail.is_empty() {
            self.merge(w, 0, tail);
        }
        Ok(())
    }

    /// True if bytes `[start, end)` are all zero; `start` is a multiple
    /// of 8.  (Another request may change them a moment later: block
    /// status is a snapshot, as on any disk.)
    fn is_zero(&self, start: usize, end: usize) -> bool {
        let words = &self.words[start / WORD..(end + WORD - 1) / WORD];
        words.iter().all(|w| w.load(Relaxed) == 0)
    }
}

/// How many bytes of a request at `offset` come before the first word
/// boundary (all of them if the request ends first).
fn head_len(offset: usize, len: usize) -> usize {
    ((WORD - offset % WORD) % WORD).min(len)
}

fn put(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = MaybeUninit::new(s);
    }
}

/// The disk behind a handle.  Handles are the `Disk` that get_ready
/// made, which lives until unload, after every connection has closed.
fn disk<'a>(h: *mut c_void) -> Result<&'a Disk> {
    if h.is_null() {
        return Err(Error::new(errno::EINVAL, "no disk"));
    }
    Ok(unsafe { &*(h as *const Disk) })
}

/// Runs a callback body: errors, and panics (which must not unwind into
/// the server), are reported and become -1.
fn status<F: FnOnce() -> Result<()>>(callback: &str, f: F) -> c_int {
    match guard(callback, f) {
        Ok(()) => 0,
        Err(e) => {
            e.report();
            -1
        }
    }
}

extern "C" fn ramdisk_config(key: *const c_char, value: *const c_char) -> c_int {
    status("config", || {
        let (key, value) = unsafe { (c_str(key)?, c_str(value)?) };
        match key {
            "size" => {
                SIZE.store(parse_size(value)?, Relaxed);
                Ok(())
            }
            _ => Err(Error::new(
                errno::EINVAL,
                format!("unknown parameter '{key}'"),
            )),
        }
    })
}

// Allocate the disk once configuration is done.
extern "C" fn ramdisk_get_ready() -> c_int {
    status("get_ready", || {
        let size = SIZE.load(Relaxed);
        let disk = match usize::try_from(size) {
            Ok(n) if size <= i64::MAX as u64 => Disk::new(n),
            _ => None,
        };
        let disk = disk.ok_or_else(|| {
            Error::new(
                errno::ENOMEM,
                format!("cannot allocate a disk of {size} bytes"),
            )
        })?;
        DISK.store(Box::into_raw(Box::new(disk)), Release);
        Ok(())
    })
}

extern "C" fn ramdisk_unload() {
    let p = DISK.swap(ptr::null_mut(), AcqRel);
    if !p.is_null() {
        drop(unsafe { Box::from_raw(p) });
    }
}

// The handle is the disk itself: there is no per-connection state.
extern "C" fn ramdisk_open(_readonly: c_int) -> *mut c_void {
    let p = DISK.load(Acquire);
    if p.is_null() {
        error!("the disk was not allocated");
    }
    p as *mut c_void
}

extern "C" fn ramdisk_close(_h: *mut c_void) {}

extern "C" fn ramdisk_get_size(h: *mut c_void) -> i64 {
    match disk(h) {
        Ok(d) => d.size as i64,
        Err(e) => {
            e.report();
            -1
        }
    }
}

extern "C" fn ramdisk_thread_model() -> ThreadModel {
    Parallel
}

// Every connection sees the same memory, so multi-conn is safe.
extern "C" fn ramdisk_can_multi_conn(_h: *mut c_void) -> c_int {
    1
}

extern "C" fn ramdisk_pread(
    h: *mut c_void,
    buf: *mut c_char,
    count: u32,
    offset: u64,
    _flags: u32,
) -> c_int {
    status("pread", || {
        // A buffer of 0 bytes may be NULL, and no slice may be made
        // from a NULL pointer, even an empty one.
        if count == 0 {
            return Ok(());
        }
        if buf.is_null() {
            return Err(Error::new(errno::EINVAL, "NULL buffer"));
        }
        // The server lends us count bytes it has not initialised: a
        // slice of MaybeUninit<u8> says exactly that.
        let buf = unsafe { slice::from_raw_parts_mut(buf as *mut MaybeUninit<u8>, count as usize) };
        disk(h)?.read(offset, buf)
    })
}

extern "C" fn ramdisk_pwrite(
    h: *mut c_void,
    buf: *const c_char,
    count: u32,
    offset: u64,
    _flags: u32,
) -> c_int {
    status("pwrite", || {
        if count == 0 {
            return Ok(());
        }
        if buf.is_null() {
            return Err(Error::new(errno::EINVAL, "NULL buffer"));
        }
        let buf = unsafe { slice::from_raw_parts(buf as *const u8, count as usize) };
        disk(h)?.write(offset, buf)
    })
}

// Memory needs no flushing; saying so lets clients send FUA and flush.
extern "C" fn ramdisk_flush(_h: *mut c_void, _flags: u32) -> c_int {
    0
}

extern "C" fn ramdisk_can_extents(_h: *mut c_void) -> c_int {
    1
}

// Whole 4 KiB blocks of zeroes are reported as "zero", everything else
// as allocated data.  Runs of the same kind are merged.
extern "C" fn ramdisk_extents(
    h: *mut c_void,
    count: u32,
    offset: u64,
    flags: u32,
    extents: *mut Extents,
) -> c_int {
    status("extents", || {
        if extents.is_null() {
            return Err(Error::new(errno::EINVAL, "no extent list"));
        }
        let extents = unsafe { Extents::from_ptr(extents) };
        let disk = disk(h)?;
        let offset = disk.check(offset, 0)?;
        let end = offset.saturating_add(count as usize).min(disk.size);
        let req_one = Flags::from_bits_retain(flags).contains(Flags::REQ_ONE);
        let kind = |zero: bool| {
            if zero {
                ExtentType::Zero
            } else {
                ExtentType::Allocated
            }
        };

        let mut run_start = offset - offset % BLOCK;
        let mut run_zero = None;
        let mut pos = run_start;
        while pos < end {
            let next = (pos + BLOCK).min(disk.size);
            let zero = disk.is_zero(pos, next);
            match run_zero {
                Some(z) if z != zero => {
                    extents.add(run_start as u64, (pos - run_start) as u64, kind(z))?;
                    if req_one {
                        return Ok(());
                    }
                    run_start = pos;
                }
                _ => {}
            }
            run_zero = Some(zero);
            pos = next;
        }
        extents.add(
            run_start as u64,
            (pos - run_start) as u64,
            kind(run_zero == Some(true)),
        )
    })
}

// Laid out like the example in the manual.
#[rustfmt::skip]
#[no_mangle]
pub extern fn plugin_init () -> *const Plugin {
    // Plugin name.
    let name = "ramdisk\0"
        as *const str as *const [c_char] as *const c_char;

    // Create a mutable plugin, setting the 4 required fields.
    let mut plugin = Plugin::new (
        name,
        ramdisk_open,
        ramdisk_get_size,
        ramdisk_pread
    );
    // Update any other fields as required.
    plugin.close = Some (ramdisk_close);
    plugin.pwrite = Some (ramdisk_pwrite);
    plugin.flush = Some (ramdisk_flush);
    plugin.thread_model = Some (ramdisk_thread_model);
    plugin.config = Some (ramdisk_config);
    plugin.config_help = "size=<SIZE>  Size of the RAM disk (default 100M).\0"
        as *const str as *const [c_char] as *const c_char;
    plugin.magic_config_key = "size\0" as *const str as *const [c_char] as *const c_char;
    plugin.get_ready = Some (ramdisk_get_ready);
    plugin.unload = Some (ramdisk_unload);
    plugin.can_multi_conn = Some (ramdisk_can_multi_conn);
    plugin.can_extents = Some (ramdisk_can_extents);
    plugin.extents = Some (ramdisk_extents);

    // Return the pointer.
    let plugin = Box::new(plugin);
    Box::into_raw(plugin)
}
