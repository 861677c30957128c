// ramdisk: a RAM disk plugin written to the raw API, in the style of
// nbdkit-rust-plugin(3).
//
//   cargo build --release --example ramdisk
//   nbdkit ./target/release/examples/libramdisk.so size=100M
//
// The disk is one zeroed allocation shared by all connections.  Reads
// and writes are plain memory copies, so requests run in parallel with
// no locking at all, exactly as a C RAM disk would do it: like the C
// version, overlapping concurrent writes are the client's problem.
//
// Extents are reported by looking for all-zero 4 KiB blocks.
//
// Callbacks are declared `extern fn`, as in the manual (and as plugins
// for nbdkit's original bindings were); that means `extern "C" fn`.

#![allow(missing_abi)]

extern crate nbdkit;

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use nbdkit::ThreadModel::*;
use nbdkit::*;

static SIZE: AtomicU64 = AtomicU64::new(100 * 1024 * 1024);
static DISK: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());

const BLOCK: u64 = 4096;

extern "C" fn ramdisk_config(key: *const c_char, value: *const c_char) -> c_int {
    let r = guard("config", || {
        let (key, value) = unsafe { (c_str(key)?, c_str(value)?) };
        match key {
            "size" => {
                SIZE.store(parse_size(value)?, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(Error::new(
                errno::EINVAL,
                format!("unknown parameter '{key}'"),
            )),
        }
    });
    match r {
        Ok(()) => 0,
        Err(e) => {
            e.report();
            -1
        }
    }
}

// Allocate the disk once configuration is done.  vec![0; n] asks the
// allocator for zeroed memory (calloc), so untouched pages stay shared.
extern "C" fn ramdisk_get_ready() -> c_int {
    let size = SIZE.load(Ordering::Relaxed);
    let len = match usize::try_from(size) {
        Ok(n) if size <= i64::MAX as u64 => n,
        _ => {
            error!("size={size} is too large");
            return -1;
        }
    };
    let disk: Box<[u8]> = vec![0u8; len].into_boxed_slice();
    DISK.store(Box::into_raw(disk) as *mut u8, Ordering::Release);
    0
}

extern "C" fn ramdisk_unload() {
    let p = DISK.swap(ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        let len = SIZE.load(Ordering::Relaxed) as usize;
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, len)) });
    }
}

// The handle is the disk itself: there is no per-connection state.
extern "C" fn ramdisk_open(_readonly: c_int) -> *mut c_void {
    DISK.load(Ordering::Acquire) as *mut c_void
}

extern "C" fn ramdisk_close(_h: *mut c_void) {}

extern "C" fn ramdisk_get_size(_h: *mut c_void) -> i64 {
    SIZE.load(Ordering::Relaxed) as i64
}

extern "C" fn ramdisk_thread_model() -> ThreadModel {
    Parallel
}

// Every connection sees the same memory, so multi-conn is safe.
extern "C" fn ramdisk_can_multi_conn(_h: *mut c_void) -> c_int {
    1
}

// The server has checked that [offset, offset + count) is in the disk.
extern "C" fn ramdisk_pread(
    h: *mut c_void,
    buf: *mut c_char,
    count: u32,
    offset: u64,
    _flags: u32,
) -> c_int {
    unsafe {
        ptr::copy_nonoverlapping(
            (h as *const u8).add(offset as usize),
            buf as *mut u8,
            count as usize,
        );
    }
    0
}

extern "C" fn ramdisk_pwrite(
    h: *mut c_void,
    buf: *const c_char,
    count: u32,
    offset: u64,
    _flags: u32,
) -> c_int {
    unsafe {
        ptr::copy_nonoverlapping(
            buf as *const u8,
            (h as *mut u8).add(offset as usize),
            count as usize,
        );
    }
    0
}

// Memory needs no flushing; saying so lets clients send FUA and flush.
extern "C" fn ramdisk_flush(_h: *mut c_void, _flags: u32) -> c_int {
    0
}

extern "C" fn ramdisk_can_extents(_h: *mut c_void) -> c_int {
    1
}

fn block_is_zero(h: *mut c_void, start: u64, end: u64) -> bool {
    let b = unsafe {
        std::slice::from_raw_parts((h as *const u8).add(start as usize), (end - start) as usize)
    };
    b.iter().all(|&x| x == 0)
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
    let extents = unsafe { Extents::from_ptr(extents) };
    let size = SIZE.load(Ordering::Relaxed);
    let end = (offset + count as u64).min(size);
    let req_one = Flags::from_bits_retain(flags).contains(Flags::REQ_ONE);

    let mut run_start = offset - offset % BLOCK;
    let mut run_zero = None;
    let mut pos = run_start;
    while pos < end {
        let next = (pos + BLOCK).min(size);
        let zero = block_is_zero(h, pos, next);
        match run_zero {
            Some(z) if z != zero => {
                let t = if z {
                    ExtentType::Zero
                } else {
                    ExtentType::Allocated
                };
                if let Err(e) = extents.add(run_start, pos - run_start, t) {
                    e.report();
                    return -1;
                }
                if req_one {
                    return 0;
                }
                run_start = pos;
            }
            _ => {}
        }
        run_zero = Some(zero);
        pos = next;
    }
    let t = if run_zero == Some(true) {
        ExtentType::Zero
    } else {
        ExtentType::Allocated
    };
    match extents.add(run_start, pos - run_start, t) {
        Ok(()) => 0,
        Err(e) => {
            e.report();
            -1
        }
    }
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
