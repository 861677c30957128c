//! C callbacks that forward to a [`Server`] implementation.
//!
//! [`plugin!`](crate::plugin!) stores `glue::X::<MyType>` in the fields
//! of a [`Plugin`].  Each function converts the C arguments, calls the
//! trait method inside [`guard`] (so panics stay on this side of the FFI
//! boundary) and converts the result back: errors are reported with
//! [`Error::report`] and become `-1` (or NULL).
//!
//! Public only because the macro expands in the plugin's crate.
//!
//! Nothing here trusts a pointer further than it has to: a NULL handle,
//! buffer or list is an `EINVAL` error (a buffer of 0 bytes may be
//! NULL), and nothing made from C data is given a Rust type with
//! invalid values (the read buffer is zeroed before it becomes a
//! `&mut [u8]`, since the server's buffer is uninitialised memory).

#![doc(hidden)]
// These are C callbacks: the server guarantees the pointers are valid,
// and the Plugin fields they go in are (historically) safe fn types.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::any::Any;
use std::ffi::CString;
use std::io::Write;
use std::mem;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::slice;

use crate::error::{errno, Error, Result};
use crate::ffi;
use crate::functions::{c_str, intern};
use crate::plugin::{Plugin, ThreadModel};
use crate::server::Server;
use crate::types::{Exports, Extents, Flags};

/// The text of a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// Runs `f`, turning a panic into an `EIO` error that names `callback`.
///
/// Use it in raw-API callbacks whose code might panic: unwinding out of
/// an `extern "C"` function aborts the whole server.
///
/// ```
/// use nbdkit::*;
///
/// extern "C" fn get_size(_h: *mut c_void) -> i64 {
///     match guard("get_size", || Ok(1024)) {
///         Ok(n) => n,
///         Err(e) => { e.report(); -1 }
///     }
/// }
/// # fn main() {}
/// ```
pub fn guard<R, F: FnOnce() -> Result<R>>(callback: &str, f: F) -> Result<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let e = Error::new(
                errno::EIO,
                format!("{callback}: panic: {}", panic_message(&*payload)),
            );
            drop_payload(payload);
            Err(e)
        }
    }
}

/// Drops a panic payload.  Its `Drop` is user code and may panic in
/// turn; that second panic must not escape either, so its own payload
/// is leaked rather than dropped.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        mem::forget(again);
    }
}

/// [`guard`], then report an error.
fn run<R, F: FnOnce() -> Result<R>>(callback: &str, f: F) -> Option<R> {
    match guard(callback, f) {
        Ok(r) => Some(r),
        Err(e) => {
            e.report();
            None
        }
    }
}

fn status<F: FnOnce() -> Result<()>>(callback: &str, f: F) -> c_int {
    match run(callback, f) {
        Some(()) => 0,
        None => -1,
    }
}

fn boolean<F: FnOnce() -> Result<bool>>(callback: &str, f: F) -> c_int {
    match run(callback, f) {
        Some(b) => b as c_int,
        None => -1,
    }
}

/// A string that must outlive the callback, interned in the server.
fn interned<F: FnOnce() -> Result<String>>(callback: &str, f: F) -> *const c_char {
    run(callback, || intern(&f()?)).unwrap_or(ptr::null())
}

/// The connection object behind a handle.
///
/// # Safety
/// `h` must be NULL or come from [`open`] for the same `S` and not be
/// closed yet.
unsafe fn conn<'a, S: Server>(h: *mut c_void) -> Result<&'a S> {
    if h.is_null() {
        return Err(Error::new(errno::EINVAL, "NULL handle"));
    }
    Ok(&*(h as *const S))
}

/// A pointer the server passes in (an out-parameter, a list), which
/// must not be NULL.
fn non_null<T>(p: *mut T, what: &str) -> Result<*mut T> {
    if p.is_null() {
        Err(Error::new(errno::EINVAL, format!("NULL {what}")))
    } else {
        Ok(p)
    }
}

/// The data of a write request: `count` bytes at `buf`.  With
/// `count == 0` the buffer may be NULL (or dangling) and is not
/// touched: `slice::from_raw_parts` must never see a NULL pointer.
///
/// # Safety
/// If `count > 0` and `buf` is not NULL, `buf` must point to `count`
/// initialised bytes that nothing writes to until `'a` ends.
pub(crate) unsafe fn write_buffer<'a>(buf: *const c_char, count: u32) -> Result<&'a [u8]> {
    if count == 0 {
        Ok(&[])
    } else if buf.is_null() {
        Err(Error::new(errno::EINVAL, "NULL buffer"))
    } else {
        Ok(slice::from_raw_parts(buf as *const u8, count as usize))
    }
}

/// The buffer of a read request: `count` bytes at `buf`, which the
/// server allocated and has not initialised.  The bytes are zeroed
/// first: a `&mut [u8]` over uninitialised memory is not allowed.
/// With `count == 0` the buffer may be NULL and is not touched.
///
/// # Safety
/// If `count > 0` and `buf` is not NULL, `buf` must point to `count`
/// writable bytes that nothing else reads or writes until `'a` ends.
pub(crate) unsafe fn read_buffer<'a>(buf: *mut c_char, count: u32) -> Result<&'a mut [u8]> {
    if count == 0 {
        Ok(&mut [])
    } else if buf.is_null() {
        Err(Error::new(errno::EINVAL, "NULL buffer"))
    } else {
        let p = buf as *mut u8;
        ptr::write_bytes(p, 0, count as usize);
        Ok(slice::from_raw_parts_mut(p, count as usize))
    }
}

pub extern "C" fn load<S: Server>() {
    run("load", || {
        S::load();
        Ok(())
    });
}

pub extern "C" fn unload<S: Server>() {
    run("unload", || {
        S::unload();
        Ok(())
    });
}

pub extern "C" fn config<S: Server>(key: *const c_char, value: *const c_char) -> c_int {
    status("config", || {
        let k = unsafe { c_str(key) }?;
        let v = unsafe { c_str(value) }?;
        S::config(k, v)
    })
}

pub extern "C" fn config_complete<S: Server>() -> c_int {
    status("config_complete", S::config_complete)
}

pub extern "C" fn dump_plugin<S: Server>() {
    // The server printed its lines through C stdio; Rust's stdout has
    // its own buffer.  Flush both sides so the lines come out in order.
    unsafe { ffi::fflush(ptr::null_mut()) };
    run("dump_plugin", || {
        S::dump_plugin();
        Ok(())
    });
    let _ = std::io::stdout().flush();
}

/// The C field is `int (*)(void)`, where -1 means failure, but the
/// Rust field has the historical type `extern fn () -> ThreadModel`,
/// and -1 is not a `ThreadModel`: returning it through that type would
/// be undefined behaviour for any Rust code that calls the field.  So
/// this returns only real models, and on failure it does what the
/// server does when `.thread_model` returns -1: the error is logged and
/// the process exits with status 1.
pub extern "C" fn thread_model<S: Server>() -> ThreadModel {
    match run("thread_model", S::thread_model) {
        Some(m) => m,
        None => fail_startup(),
    }
}

/// Ends the server as a failed startup callback would (`exit(1)`, which
/// flushes stdio).  Only for callbacks that have no other way to fail.
fn fail_startup() -> ! {
    // The server's messages went through C stdio, ours may be in
    // Rust's stdout buffer; exit flushes both.
    std::process::exit(1)
}

pub extern "C" fn get_ready<S: Server>() -> c_int {
    status("get_ready", S::get_ready)
}

pub extern "C" fn after_fork<S: Server>() -> c_int {
    status("after_fork", S::after_fork)
}

pub extern "C" fn cleanup<S: Server>() {
    run("cleanup", || {
        S::cleanup();
        Ok(())
    });
}

pub extern "C" fn preconnect<S: Server>(readonly: c_int) -> c_int {
    status("preconnect", || S::preconnect(readonly != 0))
}

pub extern "C" fn list_exports<S: Server>(
    readonly: c_int,
    is_tls: c_int,
    exports: *mut Exports,
) -> c_int {
    status("list_exports", || {
        let e = unsafe { Exports::from_ptr(non_null(exports, "export list")?) };
        S::list_exports(readonly != 0, is_tls != 0, e)
    })
}

pub extern "C" fn default_export<S: Server>(readonly: c_int, is_tls: c_int) -> *const c_char {
    interned("default_export", || {
        S::default_export(readonly != 0, is_tls != 0)
    })
}

pub extern "C" fn open<S: Server>(readonly: c_int) -> *mut c_void {
    match run("open", || S::open(readonly != 0)) {
        // A zero-sized S still gets a non-NULL (dangling) pointer.
        Some(s) => Box::into_raw(Box::new(s)) as *mut c_void,
        None => ptr::null_mut(),
    }
}

pub extern "C" fn close<S: Server>(h: *mut c_void) {
    if h.is_null() {
        return;
    }
    // Drop the connection object; a panicking Drop is logged.
    run("close", || {
        drop(unsafe { Box::from_raw(h as *mut S) });
        Ok(())
    });
}

pub extern "C" fn get_size<S: Server>(h: *mut c_void) -> i64 {
    let r = run("get_size", || {
        let size = unsafe { conn::<S>(h) }?.get_size()?;
        i64::try_from(size)
            .map_err(|_| Error::new(errno::EFBIG, format!("get_size: {size} is too large")))
    });
    r.unwrap_or(-1)
}

pub extern "C" fn export_description<S: Server>(h: *mut c_void) -> *const c_char {
    interned("export_description", || {
        unsafe { conn::<S>(h) }?.export_description()
    })
}

pub extern "C" fn block_size<S: Server>(
    h: *mut c_void,
    minimum: *mut u32,
    preferred: *mut u32,
    maximum: *mut u32,
) -> c_int {
    status("block_size", || {
        let minimum = non_null(minimum, "minimum")?;
        let preferred = non_null(preferred, "preferred")?;
        let maximum = non_null(maximum, "maximum")?;
        let b = unsafe { conn::<S>(h) }?.block_size()?;
        unsafe {
            *minimum = b.minimum;
            *preferred = b.preferred;
            *maximum = b.maximum;
        }
        Ok(())
    })
}

macro_rules! bool_callback {
    ($name:ident) => {
        pub extern "C" fn $name<S: Server>(h: *mut c_void) -> c_int {
            boolean(stringify!($name), || unsafe { conn::<S>(h) }?.$name())
        }
    };
}

bool_callback!(can_write);
bool_callback!(can_flush);
bool_callback!(is_rotational);
bool_callback!(can_trim);
bool_callback!(can_zero);
bool_callback!(can_fast_zero);
bool_callback!(can_multi_conn);
bool_callback!(can_extents);

pub extern "C" fn can_fua<S: Server>(h: *mut c_void) -> c_int {
    match run("can_fua", || unsafe { conn::<S>(h) }?.can_fua()) {
        Some(m) => m as c_int,
        None => -1,
    }
}

pub extern "C" fn can_cache<S: Server>(h: *mut c_void) -> c_int {
    match run("can_cache", || unsafe { conn::<S>(h) }?.can_cache()) {
        Some(m) => m as c_int,
        None => -1,
    }
}

pub extern "C" fn pread<S: Server>(
    h: *mut c_void,
    buf: *mut c_char,
    count: u32,
    offset: u64,
    flags: u32,
) -> c_int {
    status("pread", || {
        let s = unsafe { conn::<S>(h) }?;
        // The server lends us a buffer of count bytes for the duration
        // of the call.
        let b = unsafe { read_buffer(buf, count) }?;
        s.read_at(b, offset, Flags::from_bits_retain(flags))
    })
}

pub extern "C" fn pwrite<S: Server>(
    h: *mut c_void,
    buf: *const c_char,
    count: u32,
    offset: u64,
    flags: u32,
) -> c_int {
    status("pwrite", || {
        let s = unsafe { conn::<S>(h) }?;
        let b = unsafe { write_buffer(buf, count) }?;
        s.write_at(b, offset, Flags::from_bits_retain(flags))
    })
}

pub extern "C" fn flush<S: Server>(h: *mut c_void, flags: u32) -> c_int {
    status("flush", || {
        unsafe { conn::<S>(h) }?.flush(Flags::from_bits_retain(flags))
    })
}

pub extern "C" fn trim<S: Server>(h: *mut c_void, count: u32, offset: u64, flags: u32) -> c_int {
    status("trim", || {
        unsafe { conn::<S>(h) }?.trim(count, offset, Flags::from_bits_retain(flags))
    })
}

pub extern "C" fn zero<S: Server>(h: *mut c_void, count: u32, offset: u64, flags: u32) -> c_int {
    status("zero", || {
        unsafe { conn::<S>(h) }?.zero(count, offset, Flags::from_bits_retain(flags))
    })
}

pub extern "C" fn extents<S: Server>(
    h: *mut c_void,
    count: u32,
    offset: u64,
    flags: u32,
    extents: *mut Extents,
) -> c_int {
    status("extents", || {
        let s = unsafe { conn::<S>(h) }?;
        let e = unsafe { Extents::from_ptr(non_null(extents, "extent list")?) };
        s.extents(count, offset, Flags::from_bits_retain(flags), e)
    })
}

pub extern "C" fn cache<S: Server>(h: *mut c_void, count: u32, offset: u64, flags: u32) -> c_int {
    status("cache", || {
        unsafe { conn::<S>(h) }?.cache(count, offset, Flags::from_bits_retain(flags))
    })
}

/// A `'static` C copy of an identity string.  plugin_init runs once, so
/// leaking is fine.
fn leak_str(what: &str, s: &str) -> Result<*const c_char> {
    match CString::new(s) {
        Ok(c) => Ok(c.into_raw() as *const c_char),
        Err(_) => Err(Error::new(
            errno::EINVAL,
            format!("plugin {what} contains a NUL byte"),
        )),
    }
}

fn leak_opt(what: &str, s: Option<&'static str>) -> Result<*const c_char> {
    match s {
        Some(s) => leak_str(what, s),
        None => Ok(ptr::null()),
    }
}

/// The plugin for `S` with the callbacks every safe plugin has (open,
/// close, get_size, pread) and its identity strings.  `plugin!` adds
/// the callbacks it is told about.
pub fn new_plugin<S: Server>() -> Result<Plugin> {
    let mut p = Plugin::new(
        leak_str("name", S::name())?,
        open::<S>,
        get_size::<S>,
        pread::<S>,
    );
    p.close = Some(close::<S>);
    p.longname = leak_opt("longname", S::longname())?;
    p.version = leak_opt("version", S::version())?;
    p.description = leak_opt("description", S::description())?;
    p.config_help = leak_opt("config_help", S::config_help())?;
    p.magic_config_key = leak_opt("magic_config_key", S::magic_config_key())?;
    Ok(p)
}

/// The body of the `plugin_init` that `plugin!` generates: builds the
/// plugin, lets `set` fill in the named callbacks, and leaks it.  On
/// failure (or panic) it logs and returns NULL, which the server
/// reports as a failed registration.
pub fn plugin_init<S: Server, F: FnOnce(&mut Plugin)>(set: F) -> *const Plugin {
    let r = guard("plugin_init", || {
        let mut p = new_plugin::<S>()?;
        set(&mut p);
        Ok(p)
    });
    match r {
        Ok(p) => Box::into_raw(Box::new(p)),
        Err(e) => {
            crate::functions::error(&format!("plugin_init: {e}"));
            ptr::null()
        }
    }
}
