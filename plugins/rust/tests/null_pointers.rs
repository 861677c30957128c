//! The glue `plugin!` generates, given NULL pointers and empty buffers.
//!
//! A buffer of 0 bytes may be NULL: it must reach the plugin as an empty
//! slice without `slice::from_raw_parts` ever seeing the NULL pointer
//! (undefined behaviour, and an abort under debug assertions).  Any
//! other NULL pointer (handle, buffer of some bytes, out-parameter,
//! list) must be an `EINVAL` error, never a NULL reference.  And the
//! server's read buffer, uninitialised memory, must be initialised
//! before it becomes a `&mut [u8]`.
//!
//! Each test stands alone: before these were fixed, most of them
//! crashed the test program.

mod common;

use std::os::raw::{c_char, c_void};
use std::ptr;
use std::sync::Mutex;

use common::serial;
use common::stubs::{self, TestExports, TestExtents};
use nbdkit::*;

/// What the last data callback saw: (callback, buffer length, whether
/// a read buffer was all zero when it arrived).
static SEEN: Mutex<Option<(&'static str, usize, bool)>> = Mutex::new(None);

fn seen(what: &'static str, len: usize, zero: bool) {
    *SEEN.lock().unwrap() = Some((what, len, zero));
}

fn take_seen() -> Option<(&'static str, usize, bool)> {
    SEEN.lock().unwrap().take()
}

struct Probe;

impl Server for Probe {
    fn name() -> &'static str {
        "probe"
    }
    fn open(_readonly: bool) -> Result<Probe> {
        Ok(Probe)
    }
    fn get_size(&self) -> Result<u64> {
        Ok(1 << 20)
    }
    fn read_at(&self, buf: &mut [u8], _offset: u64, _flags: Flags) -> Result<()> {
        seen("read_at", buf.len(), buf.iter().all(|&b| b == 0));
        // Fill in only part of it: the rest must still be defined.
        if let Some(b) = buf.first_mut() {
            *b = 1;
        }
        Ok(())
    }
    fn write_at(&self, buf: &[u8], _offset: u64, _flags: Flags) -> Result<()> {
        seen("write_at", buf.len(), false);
        Ok(())
    }
    fn can_write(&self) -> Result<bool> {
        Ok(true)
    }
    fn block_size(&self) -> Result<BlockSize> {
        Ok(BlockSize {
            minimum: 1,
            preferred: 4096,
            maximum: 1 << 20,
        })
    }
    fn extents(&self, _count: u32, offset: u64, _flags: Flags, e: &mut Extents) -> Result<()> {
        seen("extents", 0, false);
        e.add(offset, 512, ExtentType::Allocated)
    }
    fn list_exports(_readonly: bool, _is_tls: bool, e: &mut Exports) -> Result<()> {
        seen("list_exports", 0, false);
        e.use_default()
    }
}

plugin!(Probe {
    write_at,
    can_write,
    block_size,
    extents,
    list_exports
});

fn plugin() -> &'static Plugin {
    let p = plugin_init();
    assert!(!p.is_null());
    unsafe { &*p }
}

fn assert_einval(msg: &str) {
    assert_eq!(stubs::take_errno(), errno::EINVAL);
    let errors = stubs::take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains(msg), "{:?} lacks {msg:?}", errors[0]);
}

fn with_conn<F: FnOnce(&Plugin, *mut c_void)>(f: F) {
    let _g = serial();
    take_seen();
    let p = plugin();
    let h = (p.open)(0);
    assert!(!h.is_null());
    f(p, h);
    (p.close.unwrap())(h);
}

#[test]
fn empty_read_with_null_buffer() {
    with_conn(|p, h| {
        assert_eq!((p.pread)(h, ptr::null_mut(), 0, 0, 0), 0);
        assert_eq!(take_seen(), Some(("read_at", 0, true)));
        assert!(stubs::take_errors().is_empty());
    });
}

#[test]
fn empty_write_with_null_buffer() {
    with_conn(|p, h| {
        assert_eq!((p.pwrite.unwrap())(h, ptr::null(), 0, 0, 0), 0);
        assert_eq!(take_seen(), Some(("write_at", 0, false)));
        assert!(stubs::take_errors().is_empty());
    });
}

#[test]
fn null_buffer_with_bytes_is_an_error() {
    with_conn(|p, h| {
        assert_eq!((p.pread)(h, ptr::null_mut(), 512, 0, 0), -1);
        assert_einval("NULL buffer");
        assert_eq!((p.pwrite.unwrap())(h, ptr::null(), 512, 0, 0), -1);
        assert_einval("NULL buffer");
        assert_eq!(take_seen(), None);
    });
}

/// The server's buffer is uninitialised memory (0xaa bytes here stand
/// for whatever it holds): read_at gets it zeroed.
#[test]
fn read_buffer_is_initialised() {
    with_conn(|p, h| {
        let mut buf = vec![0xaau8; 4096];
        let r = (p.pread)(h, buf.as_mut_ptr() as *mut c_char, 4096, 0, 0);
        assert_eq!(r, 0);
        assert_eq!(take_seen(), Some(("read_at", 4096, true)));
        assert_eq!(buf[0], 1);
        assert!(buf[1..].iter().all(|&b| b == 0));
    });
}

#[test]
fn null_handle_is_an_error() {
    let _g = serial();
    let p = plugin();
    let h = ptr::null_mut();
    let mut buf = [0u8; 16];
    assert_eq!((p.get_size)(h), -1);
    assert_einval("NULL handle");
    assert_eq!((p.can_write.unwrap())(h), -1);
    assert_einval("NULL handle");
    assert_eq!((p.pread)(h, buf.as_mut_ptr() as *mut c_char, 16, 0, 0), -1);
    assert_einval("NULL handle");
    assert_eq!(
        (p.pwrite.unwrap())(h, buf.as_ptr() as *const c_char, 16, 0, 0),
        -1
    );
    assert_einval("NULL handle");
    let (mut a, mut b, mut c) = (0u32, 0u32, 0u32);
    assert_eq!((p.block_size.unwrap())(h, &mut a, &mut b, &mut c), -1);
    assert_einval("NULL handle");
    let mut e = TestExtents::default();
    let ep = &mut e as *mut TestExtents as *mut Extents;
    assert_eq!((p.extents.unwrap())(h, 512, 0, 0, ep), -1);
    assert_einval("NULL handle");
    // close ignores a NULL handle.
    (p.close.unwrap())(h);
    assert!(stubs::take_errors().is_empty());
}

#[test]
fn null_out_parameters_are_an_error() {
    with_conn(|p, h| {
        let (mut a, mut b) = (0u32, 0u32);
        let r = (p.block_size.unwrap())(h, &mut a, &mut b, ptr::null_mut());
        assert_eq!(r, -1);
        assert_einval("NULL maximum");
        let r = (p.block_size.unwrap())(h, ptr::null_mut(), &mut a, &mut b);
        assert_eq!(r, -1);
        assert_einval("NULL minimum");
    });
}

#[test]
fn null_lists_are_an_error() {
    with_conn(|p, h| {
        assert_eq!((p.extents.unwrap())(h, 512, 0, 0, ptr::null_mut()), -1);
        assert_einval("NULL extent list");
        assert_eq!((p.list_exports.unwrap())(0, 0, ptr::null_mut()), -1);
        assert_einval("NULL export list");
        assert_eq!(take_seen(), None);

        // And the real ones still work.
        let mut e = TestExtents::default();
        let ep = &mut e as *mut TestExtents as *mut Extents;
        assert_eq!((p.extents.unwrap())(h, 512, 0, 0, ep), 0);
        assert_eq!(e.list, vec![(0, 512, 0)]);
        let mut x = TestExports::default();
        let xp = &mut x as *mut TestExports as *mut Exports;
        assert_eq!((p.list_exports.unwrap())(0, 0, xp), 0);
        assert_eq!(x.list, vec![(String::new(), None)]);
    });
}

/// The raw-API constructors refuse NULL with a panic (inside a
/// callback's guard: an error), not a NULL reference.
#[test]
fn from_ptr_refuses_null() {
    let r = guard("extents", || {
        let _e = unsafe { Extents::from_ptr(ptr::null_mut()) };
        Ok(())
    });
    let e = r.unwrap_err();
    assert_eq!(e.errno(), errno::EIO);
    assert!(e.message().contains("NULL"), "{}", e.message());
    let r = guard("list_exports", || {
        let _e = unsafe { Exports::from_ptr(ptr::null_mut()) };
        Ok(())
    });
    assert!(r.unwrap_err().message().contains("NULL"));
}
