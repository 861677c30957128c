//! The C interface: constants from `<nbdkit-common.h>` and the functions
//! the server exports to plugins.
//!
//! A plugin is a shared object (`cdylib`).  It leaves these symbols
//! undefined; the dynamic linker binds them to the `nbdkit` executable
//! when the server loads the plugin.  Only the functions a plugin
//! actually calls end up as undefined symbols in the `.so`, so a plugin
//! that never calls [`nbdkit_disconnect`] still loads into servers
//! older than 1.34, which do not have it.
//!
//! Everything here is `unsafe` and C-shaped; the rest of the crate wraps
//! it.  It is public so that plugins written to the raw API can call the
//! server exactly as a C plugin would.

#![allow(non_camel_case_types)]
#![allow(missing_docs)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

use crate::types::{Exports, Extents};

/// `NBDKIT_API_VERSION` used by [`Plugin::new`](crate::Plugin::new):
/// data callbacks take a `flags` argument.
pub const NBDKIT_API_VERSION: c_int = 2;

pub const NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS: c_int = 0;
pub const NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS: c_int = 1;
pub const NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS: c_int = 2;
pub const NBDKIT_THREAD_MODEL_PARALLEL: c_int = 3;

/// `zero`: the client allows holes to be punched.
pub const NBDKIT_FLAG_MAY_TRIM: u32 = 1 << 0;
/// `pwrite`, `trim`, `zero`: force unit access.
pub const NBDKIT_FLAG_FUA: u32 = 1 << 1;
/// `extents`: the client wants only one extent.
pub const NBDKIT_FLAG_REQ_ONE: u32 = 1 << 2;
/// `zero`: fail with `ENOTSUP` unless zeroing is fast.
pub const NBDKIT_FLAG_FAST_ZERO: u32 = 1 << 3;

pub const NBDKIT_FUA_NONE: c_int = 0;
pub const NBDKIT_FUA_EMULATE: c_int = 1;
pub const NBDKIT_FUA_NATIVE: c_int = 2;

pub const NBDKIT_CACHE_NONE: c_int = 0;
pub const NBDKIT_CACHE_EMULATE: c_int = 1;
pub const NBDKIT_CACHE_NATIVE: c_int = 2;

pub const NBDKIT_EXTENT_HOLE: u32 = 1 << 0;
pub const NBDKIT_EXTENT_ZERO: u32 = 1 << 1;

/// `struct nbdkit_extents`, opaque.  Same type as [`Extents`].
pub type nbdkit_extents = Extents;
/// `struct nbdkit_exports`, opaque.  Same type as [`Exports`].
pub type nbdkit_exports = Exports;

/// `socklen_t` on Linux.
pub type socklen_t = u32;

extern "C" {
    /// printf-style; from Rust always call it as
    /// `nbdkit_error("%s\0", msg)` with a NUL-terminated `msg`.
    pub fn nbdkit_error(fmt: *const c_char, ...);
    /// printf-style, like [`nbdkit_error`]; printed only with `-v`.
    pub fn nbdkit_debug(fmt: *const c_char, ...);
    pub fn nbdkit_set_error(err: c_int);

    pub fn nbdkit_absolute_path(path: *const c_char) -> *mut c_char;
    pub fn nbdkit_realpath(path: *const c_char) -> *mut c_char;
    pub fn nbdkit_parse_size(s: *const c_char) -> i64;
    pub fn nbdkit_parse_bool(s: *const c_char) -> c_int;
    pub fn nbdkit_parse_int(what: *const c_char, s: *const c_char, r: *mut c_int) -> c_int;
    pub fn nbdkit_parse_unsigned(what: *const c_char, s: *const c_char, r: *mut c_uint) -> c_int;
    pub fn nbdkit_parse_int8_t(what: *const c_char, s: *const c_char, r: *mut i8) -> c_int;
    pub fn nbdkit_parse_uint8_t(what: *const c_char, s: *const c_char, r: *mut u8) -> c_int;
    pub fn nbdkit_parse_int16_t(what: *const c_char, s: *const c_char, r: *mut i16) -> c_int;
    pub fn nbdkit_parse_uint16_t(what: *const c_char, s: *const c_char, r: *mut u16) -> c_int;
    pub fn nbdkit_parse_int32_t(what: *const c_char, s: *const c_char, r: *mut i32) -> c_int;
    pub fn nbdkit_parse_uint32_t(what: *const c_char, s: *const c_char, r: *mut u32) -> c_int;
    pub fn nbdkit_parse_int64_t(what: *const c_char, s: *const c_char, r: *mut i64) -> c_int;
    pub fn nbdkit_parse_uint64_t(what: *const c_char, s: *const c_char, r: *mut u64) -> c_int;
    pub fn nbdkit_stdio_safe() -> c_int;
    pub fn nbdkit_read_password(value: *const c_char, password: *mut *mut c_char) -> c_int;

    pub fn nbdkit_nanosleep(sec: c_uint, nsec: c_uint) -> c_int;

    pub fn nbdkit_export_name() -> *const c_char;
    pub fn nbdkit_is_tls() -> c_int;
    /// `addr` points to a `struct sockaddr_storage`-sized buffer.
    pub fn nbdkit_peer_name(addr: *mut c_void, addrlen: *mut socklen_t) -> c_int;
    pub fn nbdkit_peer_pid() -> i64;
    pub fn nbdkit_peer_uid() -> i64;
    pub fn nbdkit_peer_gid() -> i64;

    pub fn nbdkit_shutdown();
    /// Since nbdkit 1.34.
    pub fn nbdkit_disconnect(force: c_int);

    pub fn nbdkit_strdup_intern(s: *const c_char) -> *const c_char;
    pub fn nbdkit_strndup_intern(s: *const c_char, n: usize) -> *const c_char;

    pub fn nbdkit_add_extent(
        extents: *mut nbdkit_extents,
        offset: u64,
        length: u64,
        type_: u32,
    ) -> c_int;
    pub fn nbdkit_add_export(
        exports: *mut nbdkit_exports,
        name: *const c_char,
        description: *const c_char,
    ) -> c_int;
    pub fn nbdkit_use_default_export(exports: *mut nbdkit_exports) -> c_int;
}

// From the C library, which std links anyway.
extern "C" {
    pub(crate) fn free(p: *mut c_void);
    pub(crate) fn fflush(stream: *mut c_void) -> c_int;
    pub(crate) fn __errno_location() -> *mut c_int;
}
