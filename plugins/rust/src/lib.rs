//! Write [nbdkit](https://gitlab.com/nbdkit/nbdkit) plugins in Rust.
//!
//! nbdkit is a Network Block Device server whose storage comes from
//! plugins.  A Rust plugin is a shared library (crate type `cdylib`)
//! exporting one C function, `plugin_init`, which returns a pointer to a
//! [`Plugin`]: a struct laid out exactly like C's `struct nbdkit_plugin`.
//! The server loads it like a plugin written in C:
//!
//! ```text
//! nbdkit ./target/release/libmyplugin.so [key=value ...]
//! ```
//!
//! The crate has no dependencies.  Its minimum supported Rust version is
//! 1.63.  It is Linux-only (errno values and socket address layouts are
//! Linux's).
//!
//! There are two ways to write a plugin.
//!
//! # The safe API
//!
//! Implement [`Server`] for a type and call [`plugin!`].  One value of
//! the type is created per client connection by [`Server::open`] and
//! dropped when the connection closes.  Callbacks return [`Result`]:
//! an [`Error`] carries a message for the log and the errno the client
//! receives.  A panic inside a callback is caught, logged and turned
//! into an `EIO` error; the server keeps serving.
//!
//! ```
//! use std::sync::RwLock;
//! use nbdkit::*;
//!
//! struct Disk {
//!     data: RwLock<Vec<u8>>,
//! }
//!
//! impl Server for Disk {
//!     fn name() -> &'static str { "tinydisk" }
//!
//!     // Each connection gets its own, empty disk.
//!     fn open(_readonly: bool) -> Result<Disk> {
//!         Ok(Disk { data: RwLock::new(vec![0; 1 << 20]) })
//!     }
//!
//!     fn get_size(&self) -> Result<u64> {
//!         Ok(self.data.read().unwrap().len() as u64)
//!     }
//!
//!     fn read_at(&self, buf: &mut [u8], offset: u64, _flags: Flags) -> Result<()> {
//!         let o = offset as usize;
//!         buf.copy_from_slice(&self.data.read().unwrap()[o..o + buf.len()]);
//!         Ok(())
//!     }
//!
//!     fn write_at(&self, buf: &[u8], offset: u64, _flags: Flags) -> Result<()> {
//!         let o = offset as usize;
//!         self.data.write().unwrap()[o..o + buf.len()].copy_from_slice(buf);
//!         Ok(())
//!     }
//! }
//!
//! // Name every optional method the type implements.
//! plugin!(Disk { write_at });
//! # fn main() {}
//! ```
//!
//! # The raw API
//!
//! Fill in a [`Plugin`] yourself with `extern "C"` functions that take
//! and return C types, exactly like a C plugin.  This is the interface of
//! nbdkit's original Rust bindings (nbdkit 1.12 to 1.20); plugins written
//! for them compile unchanged.
//!
//! ```
//! extern crate nbdkit;
//! use nbdkit::*;
//! use nbdkit::ThreadModel::*;
//!
//! extern fn myplugin_open(_readonly: c_int) -> *mut c_void { 1 as *mut c_void }
//! extern fn myplugin_close(_h: *mut c_void) {}
//! extern fn myplugin_get_size(_h: *mut c_void) -> i64 { 1 << 20 }
//! extern fn myplugin_pread(_h: *mut c_void, buf: *mut c_char, count: u32,
//!                          _offset: u64, _flags: u32) -> c_int {
//!     // A 0-byte buffer may be NULL, and even a 0-byte write_bytes
//!     // needs a non-NULL pointer.
//!     if count > 0 {
//!         unsafe { std::ptr::write_bytes(buf, 0, count as usize) };
//!     }
//!     0
//! }
//! extern fn myplugin_thread_model() -> ThreadModel { SerializeAllRequests }
//!
//! #[no_mangle]
//! pub extern fn plugin_init() -> *const Plugin {
//!     let name = "myplugin\0" as *const str as *const [c_char] as *const c_char;
//!     let mut plugin = Plugin::new(name, myplugin_open, myplugin_get_size, myplugin_pread);
//!     plugin.close = Some(myplugin_close);
//!     plugin.thread_model = Some(myplugin_thread_model);
//!     Box::into_raw(Box::new(plugin))
//! }
//! # fn main() {}
//! ```
//!
//! Raw callbacks report errors by calling [`Error::report`] (or
//! [`error()`] and [`set_error`]) and returning `-1`.  [`Extents`] and
//! [`Exports`] give raw `extents` and `list_exports` callbacks a safe way
//! to fill in their lists, and [`guard`] keeps panics from unwinding into
//! the server.
//!
//! # Server functions
//!
//! The functions the server offers plugins have safe wrappers here:
//! [`error!`], [`debug!`], [`error()`], [`debug()`], [`set_error`], [`parse_size`], [`parse_bool`],
//! [`parse_int`], [`export_name`], [`is_tls`], [`peer_name`],
//! [`peer_pid`], [`peer_uid`], [`peer_gid`], [`shutdown`],
//! [`disconnect`], [`nanosleep`], [`read_password`], [`realpath`],
//! [`absolute_path`], [`stdio_safe`] and [`intern`].  The C declarations
//! themselves are in [`ffi`].
//!
//! # Building
//!
//! In the plugin's `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! nbdkit = { path = "..." }
//! ```
//!
//! Leave `panic` at its default (`unwind`): with `panic = "abort"` a
//! panic in a callback kills the server instead of failing one request.
//!
//! The plugin leaves the server's `nbdkit_*` functions as undefined
//! symbols, resolved when the server loads it.  To unit-test a plugin
//! without a server, define stub versions of the ones it uses (with
//! `#[no_mangle] pub extern "C" fn nbdkit_...`) in the test program, as
//! this crate's own tests do.

#![warn(missing_docs)]

pub mod ffi;
pub mod glue;

mod error;
mod functions;
mod macros;
mod plugin;
mod server;
mod types;

pub use std::os::raw::{c_char, c_int, c_void};

pub use crate::error::{errno, io_errno, Error, Result};
pub use crate::functions::{
    absolute_path, c_str, debug, disconnect, error, export_name, intern, is_tls, nanosleep,
    parse_bool, parse_int, parse_size, peer_gid, peer_name, peer_pid, peer_uid, read_password,
    realpath, set_error, shutdown, stdio_safe, ParseInt, PeerAddr,
};
pub use crate::glue::guard;
pub use crate::plugin::{ExtentsFn, HandleIntFn, Plugin, PreadFn, PwriteFn, RangeFn, ThreadModel};
pub use crate::server::Server;
pub use crate::types::{BlockSize, CacheMode, Exports, ExtentType, Extents, Flags, FuaMode};

#[cfg(test)]
#[path = "../tests/common/stubs.rs"]
mod stubs;
