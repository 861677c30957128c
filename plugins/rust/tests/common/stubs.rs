//! Stand-ins for the server's `nbdkit_*` functions, so that test programs
//! link and run without a server.  They record what the crate asked for
//! (per thread: each test runs on its own thread) and imitate the
//! server's behaviour closely enough to test the wrappers.
//!
//! Used by the integration tests (through `tests/common/mod.rs`) and by
//! the crate's unit tests (`src/lib.rs` includes this file).  Only std is
//! used, so it compiles in both places.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

thread_local! {
    static ERRORS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static DEBUGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static ERRNO: Cell<c_int> = const { Cell::new(0) };
}

pub static SHUTDOWN: AtomicBool = AtomicBool::new(false);
pub static DISCONNECT: AtomicI32 = AtomicI32::new(-1);

/// Messages passed to nbdkit_error on this thread since the last call.
pub fn take_errors() -> Vec<String> {
    ERRORS.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

/// Messages passed to nbdkit_debug on this thread since the last call.
pub fn take_debugs() -> Vec<String> {
    DEBUGS.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

/// The value passed to nbdkit_set_error on this thread (then reset).
pub fn take_errno() -> c_int {
    ERRNO.with(|e| e.replace(0))
}

extern "C" {
    fn malloc(n: usize) -> *mut c_void;
    fn __errno_location() -> *mut c_int;
}

fn set_c_errno(e: c_int) {
    unsafe { *__errno_location() = e }
}

unsafe fn s<'a>(p: *const c_char) -> &'a str {
    CStr::from_ptr(p).to_str().unwrap()
}

unsafe fn malloc_str(v: &[u8]) -> *mut c_char {
    let p = malloc(v.len() + 1) as *mut u8;
    std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len());
    *p.add(v.len()) = 0;
    p as *mut c_char
}

fn leak(v: &str) -> *const c_char {
    CString::new(v).unwrap().into_raw()
}

fn record_error(msg: String) {
    // A test that runs part of itself in a child process (see
    // common::run_child) can only see the child's errors on stderr.
    if std::env::var_os(CHILD_VAR).is_some() {
        eprintln!("nbdkit: error: {msg}");
    }
    ERRORS.with(|e| e.borrow_mut().push(msg));
}

/// Set in the environment of a test's child process.
pub const CHILD_VAR: &str = "NBDKIT_RUST_TEST_CHILD";

// The crate always calls these as f("%s", msg).  On x86-64 (and the
// other Linux ABIs Rust supports) a variadic call with pointer
// arguments is received correctly by a non-variadic definition.
#[no_mangle]
pub unsafe extern "C" fn nbdkit_error(fmt: *const c_char, arg: *const c_char) {
    assert_eq!(s(fmt), "%s");
    record_error(s(arg).to_owned());
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_debug(fmt: *const c_char, arg: *const c_char) {
    assert_eq!(s(fmt), "%s");
    DEBUGS.with(|e| e.borrow_mut().push(s(arg).to_owned()));
}

#[no_mangle]
pub extern "C" fn nbdkit_set_error(err: c_int) {
    ERRNO.with(|e| e.set(err));
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_size(p: *const c_char) -> i64 {
    let t = s(p);
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "s" => 9,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        "e" => 60,
        _ => 99,
    };
    match num.parse::<i64>() {
        Ok(n) if shift < 64 && n.checked_shl(shift).map_or(false, |v| v >> shift == n) => {
            n << shift
        }
        _ => {
            record_error(format!("could not parse size string ({t})"));
            -1
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_parse_bool(p: *const c_char) -> c_int {
    let t = s(p).to_ascii_lowercase();
    match t.as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => 1,
        "0" | "false" | "f" | "no" | "n" | "off" => 0,
        _ => {
            record_error(format!("could not decipher boolean ({t})"));
            -1
        }
    }
}

unsafe fn parse_int_stub(
    what: *const c_char,
    p: *const c_char,
    min: i128,
    max: i128,
) -> Option<i128> {
    let t = s(p);
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let parsed = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(h, 16)
    } else if body.len() > 1 && body.starts_with('0') {
        i128::from_str_radix(&body[1..], 8)
    } else {
        body.parse::<i128>()
    };
    match parsed {
        Ok(v) => {
            let v = if neg { -v } else { v };
            if v < min || v > max {
                record_error(format!("{}: {t} out of range", s(what)));
                set_c_errno(34);
                None
            } else {
                Some(v)
            }
        }
        Err(_) => {
            record_error(format!("{}: could not parse number: \"{t}\"", s(what)));
            set_c_errno(22);
            None
        }
    }
}

macro_rules! parse_stub {
    ($name:ident, $t:ty) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name(what: *const c_char, p: *const c_char, r: *mut $t) -> c_int {
            match parse_int_stub(what, p, <$t>::MIN as i128, <$t>::MAX as i128) {
                Some(v) => {
                    if !r.is_null() {
                        *r = v as $t;
                    }
                    0
                }
                None => -1,
            }
        }
    };
}

parse_stub!(nbdkit_parse_int, c_int);
parse_stub!(nbdkit_parse_unsigned, c_uint);
parse_stub!(nbdkit_parse_int8_t, i8);
parse_stub!(nbdkit_parse_uint8_t, u8);
parse_stub!(nbdkit_parse_int16_t, i16);
parse_stub!(nbdkit_parse_uint16_t, u16);
parse_stub!(nbdkit_parse_int32_t, i32);
parse_stub!(nbdkit_parse_uint32_t, u32);
parse_stub!(nbdkit_parse_int64_t, i64);
parse_stub!(nbdkit_parse_uint64_t, u64);

#[no_mangle]
pub extern "C" fn nbdkit_stdio_safe() -> c_int {
    1
}

/// Only the literal form: the password is the value itself.
#[no_mangle]
pub unsafe extern "C" fn nbdkit_read_password(value: *const c_char, pw: *mut *mut c_char) -> c_int {
    let v = CStr::from_ptr(value).to_bytes();
    if v.starts_with(b"+") || v.starts_with(b"-") {
        record_error("stub: only literal passwords".to_owned());
        *pw = std::ptr::null_mut();
        return -1;
    }
    *pw = malloc_str(v);
    0
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_realpath(p: *const c_char) -> *mut c_char {
    match std::fs::canonicalize(s(p)) {
        Ok(r) => malloc_str(r.to_str().unwrap().as_bytes()),
        Err(e) => {
            record_error(format!("realpath: {}: {e}", s(p)));
            set_c_errno(e.raw_os_error().unwrap_or(5));
            std::ptr::null_mut()
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_absolute_path(p: *const c_char) -> *mut c_char {
    let path = std::env::current_dir().unwrap().join(s(p));
    malloc_str(path.to_str().unwrap().as_bytes())
}

#[no_mangle]
pub extern "C" fn nbdkit_nanosleep(_sec: c_uint, _nsec: c_uint) -> c_int {
    if SHUTDOWN.load(Ordering::SeqCst) {
        set_c_errno(108);
        -1
    } else {
        0
    }
}

#[no_mangle]
pub extern "C" fn nbdkit_export_name() -> *const c_char {
    b"test-export\0".as_ptr() as *const c_char
}

#[no_mangle]
pub extern "C" fn nbdkit_is_tls() -> c_int {
    0
}

/// Always 127.0.0.1 port 10809.
#[no_mangle]
pub unsafe extern "C" fn nbdkit_peer_name(addr: *mut c_void, len: *mut u32) -> c_int {
    let a = addr as *mut u8;
    assert!(*len >= 16);
    std::ptr::write_bytes(a, 0, 16);
    *(a as *mut u16) = 2;
    *a.add(2) = (10809u16 >> 8) as u8;
    *a.add(3) = (10809u16 & 0xff) as u8;
    *a.add(4) = 127;
    *a.add(7) = 1;
    *len = 16;
    0
}

#[no_mangle]
pub extern "C" fn nbdkit_peer_pid() -> i64 {
    4242
}

#[no_mangle]
pub extern "C" fn nbdkit_peer_uid() -> i64 {
    1000
}

/// Fails, as for a TCP client.
#[no_mangle]
pub extern "C" fn nbdkit_peer_gid() -> i64 {
    record_error("nbdkit_peer_gid: not a Unix domain socket".to_owned());
    set_c_errno(95);
    -1
}

#[no_mangle]
pub extern "C" fn nbdkit_shutdown() {
    SHUTDOWN.store(true, Ordering::SeqCst);
}

#[no_mangle]
pub extern "C" fn nbdkit_disconnect(force: c_int) {
    DISCONNECT.store(force, Ordering::SeqCst);
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_strdup_intern(p: *const c_char) -> *const c_char {
    leak(s(p))
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_strndup_intern(p: *const c_char, n: usize) -> *const c_char {
    let b = CStr::from_ptr(p).to_bytes();
    leak(std::str::from_utf8(&b[..n.min(b.len())]).unwrap())
}

/// What the stub nbdkit_add_extent appends to.  Pass
/// `&mut TestExtents as *mut TestExtents as *mut nbdkit::Extents`.
#[derive(Debug, Default)]
pub struct TestExtents {
    /// Offset of the request; extents must reach it.
    pub start: u64,
    pub list: Vec<(u64, u64, u32)>,
}

/// Checks ordering and contiguity as the server does.
#[no_mangle]
pub unsafe extern "C" fn nbdkit_add_extent(
    e: *mut c_void,
    offset: u64,
    length: u64,
    ty: u32,
) -> c_int {
    let e = &mut *(e as *mut TestExtents);
    let expected = e.list.last().map(|&(o, l, _)| o + l);
    let ok = match expected {
        Some(end) => offset == end,
        None => offset <= e.start,
    };
    if !ok {
        record_error(format!(
            "nbdkit_add_extent: extents must be ascending and contiguous (offset {offset})"
        ));
        set_c_errno(34);
        return -1;
    }
    if length > 0 {
        e.list.push((offset, length, ty));
    }
    0
}

/// What the stub nbdkit_add_export appends to.
#[derive(Debug, Default)]
pub struct TestExports {
    pub list: Vec<(String, Option<String>)>,
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_add_export(
    e: *mut c_void,
    name: *const c_char,
    desc: *const c_char,
) -> c_int {
    let e = &mut *(e as *mut TestExports);
    let d = if desc.is_null() {
        None
    } else {
        Some(s(desc).to_owned())
    };
    e.list.push((s(name).to_owned(), d));
    0
}

#[no_mangle]
pub unsafe extern "C" fn nbdkit_use_default_export(e: *mut c_void) -> c_int {
    let e = &mut *(e as *mut TestExports);
    e.list.push((String::new(), None));
    0
}
