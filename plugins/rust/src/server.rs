//! The safe API: the [`Server`] trait.

use crate::error::{errno, Error, Result};
use crate::plugin::ThreadModel;
use crate::types::{BlockSize, CacheMode, Exports, Extents, Flags, FuaMode};

fn not_implemented<T>(what: &str) -> Result<T> {
    Err(Error::new(
        errno::EOPNOTSUPP,
        format!("{what} is not implemented"),
    ))
}

/// A plugin written with the safe API.
///
/// One value of the implementing type is created per client connection
/// by [`open`](Server::open) and dropped when the connection closes, so
/// per-connection state lives in `self` and cleanup goes in `Drop`.
/// Methods without `self` are called once for the whole plugin (loading,
/// configuration, startup) or before a connection has a handle.
///
/// [`plugin!`](crate::plugin!) turns the type into a plugin.  The server
/// decides what it advertises from which callbacks *exist*, so every
/// optional method you implement must also be named in the `plugin!`
/// invocation; a method that is implemented but not named is never
/// called, and the server applies its own default instead.
///
/// The required methods are [`name`](Server::name),
/// [`open`](Server::open), [`get_size`](Server::get_size) and
/// [`read_at`](Server::read_at).  The other methods have default bodies
/// that are only used if you name a method in `plugin!` without
/// implementing it: data methods fail with `EOPNOTSUPP`, `can_*` say
/// no, and the rest do nothing and succeed.
///
/// Errors are [`Error`]s: the message goes to the server log, the
/// errno to the client.  Panics are caught at the boundary: a panicking
/// callback is logged and fails with `EIO`, and the server carries on.
///
/// Depending on the [thread model](Server::thread_model), the server may
/// call methods on one connection from several threads at once, hence
/// `Sync`; a connection may be closed on a different thread than the
/// one that opened it, hence `Send`.
///
/// ```
/// use nbdkit::*;
///
/// /// A read-only disk full of 0xff bytes.
/// struct Ones;
///
/// impl Server for Ones {
///     fn name() -> &'static str { "ones" }
///     fn open(_readonly: bool) -> Result<Ones> { Ok(Ones) }
///     fn get_size(&self) -> Result<u64> { Ok(1 << 20) }
///     fn read_at(&self, buf: &mut [u8], _offset: u64, _flags: Flags) -> Result<()> {
///         buf.fill(0xff);
///         Ok(())
///     }
///     fn can_multi_conn(&self) -> Result<bool> { Ok(true) }
/// }
///
/// plugin!(Ones { can_multi_conn });
/// # fn main() {}
/// ```
pub trait Server: Sized + Send + Sync + 'static {
    // ---- Identity.  Read once, by plugin_init. ----

    /// The plugin's name: letters, digits and non-leading `-`.
    fn name() -> &'static str;

    /// A longer name for humans.
    fn longname() -> Option<&'static str> {
        None
    }

    /// The plugin's version.
    fn version() -> Option<&'static str> {
        None
    }

    /// A one-paragraph description.
    fn description() -> Option<&'static str> {
        None
    }

    /// Help for the plugin's parameters, printed by `nbdkit PLUGIN --help`.
    fn config_help() -> Option<&'static str> {
        None
    }

    /// The key a bare `VALUE` parameter (with no `KEY=`) is given to.
    fn magic_config_key() -> Option<&'static str> {
        None
    }

    // ---- Plugin lifecycle.  No connection yet. ----

    /// Called right after the server loads the plugin.
    fn load() {}

    /// Called just before the server unloads the plugin.
    fn unload() {}

    /// Called for each `KEY=VALUE` parameter on the command line.
    fn config(key: &str, _value: &str) -> Result<()> {
        Err(Error::new(
            errno::EINVAL,
            format!("unknown parameter '{key}'"),
        ))
    }

    /// Called after the last [`config`](Server::config), to check that
    /// all required parameters were given.
    fn config_complete() -> Result<()> {
        Ok(())
    }

    /// Prints extra `key=value` lines for `nbdkit --dump-plugin` to
    /// standard output (with `println!`).
    fn dump_plugin() {}

    /// The thread model the plugin needs, decided after configuration.
    /// It can only be stricter than [`ThreadModel::Parallel`], the
    /// model [`plugin!`](crate::plugin!) declares.
    ///
    /// An error (or a panic) is logged and ends the server with exit
    /// status 1, which is what the server does when a C plugin's
    /// `thread_model` fails.  (The crate does this itself: the C
    /// callback's -1 cannot travel through the field's Rust type.)
    fn thread_model() -> Result<ThreadModel> {
        Ok(ThreadModel::Parallel)
    }

    /// Called once configuration is complete and before the server
    /// forks into the background: the last chance to fail startup.
    fn get_ready() -> Result<()> {
        Ok(())
    }

    /// Called after the server has forked into the background (and on
    /// startup if it does not): start threads here, not earlier.
    fn after_fork() -> Result<()> {
        Ok(())
    }

    /// Called when the server is shutting down, before
    /// [`unload`](Server::unload), if [`get_ready`](Server::get_ready)
    /// was called.
    fn cleanup() {}

    // ---- Per connection, before the handle exists. ----

    /// Called when a client connects, before option negotiation: fail to
    /// reject the client early.
    fn preconnect(_readonly: bool) -> Result<()> {
        Ok(())
    }

    /// The exports offered to a client that lists them.
    fn list_exports(_readonly: bool, _is_tls: bool, exports: &mut Exports) -> Result<()> {
        exports.use_default()
    }

    /// The name of the export the empty export name stands for.
    fn default_export(_readonly: bool, _is_tls: bool) -> Result<String> {
        Ok(String::new())
    }

    /// Opens a connection.  The value is the connection's handle; it is
    /// dropped when the connection closes.  [`export_name`](crate::export_name)
    /// tells which export the client asked for.
    fn open(readonly: bool) -> Result<Self>;

    // ---- Per connection: what the export looks like. ----

    /// The size of the export in bytes (at most `i64::MAX`).
    fn get_size(&self) -> Result<u64>;

    /// A description of the export, sent to clients that ask for it.
    fn export_description(&self) -> Result<String> {
        not_implemented("export_description")
    }

    /// Block size constraints.
    fn block_size(&self) -> Result<BlockSize> {
        Ok(BlockSize::default())
    }

    /// Whether the export is writable.  Not named: writable if
    /// [`write_at`](Server::write_at) is named.
    fn can_write(&self) -> Result<bool> {
        Ok(false)
    }

    /// Whether [`flush`](Server::flush) does anything.  Not named: true
    /// if `flush` is named.
    fn can_flush(&self) -> Result<bool> {
        Ok(false)
    }

    /// Whether the storage is a spinning disk.  Not named: false.
    fn is_rotational(&self) -> Result<bool> {
        Ok(false)
    }

    /// Whether clients may trim.  Not named: true if
    /// [`trim`](Server::trim) is named.
    fn can_trim(&self) -> Result<bool> {
        Ok(false)
    }

    /// Whether [`zero`](Server::zero) is efficient.  If false (and not
    /// named: if `zero` is not named) the server still lets clients
    /// zero, by writing blocks of zeroes.
    fn can_zero(&self) -> Result<bool> {
        Ok(false)
    }

    /// Whether zero requests with [`Flags::FAST_ZERO`] are honoured.
    fn can_fast_zero(&self) -> Result<bool> {
        Ok(false)
    }

    /// How FUA is handled.  Not named: [`FuaMode::Emulate`] if `flush`
    /// is named, else [`FuaMode::None`].
    fn can_fua(&self) -> Result<FuaMode> {
        Ok(FuaMode::None)
    }

    /// Whether several connections see a consistent view of the export
    /// (flush on one makes writes on all durable).  Not named: false.
    fn can_multi_conn(&self) -> Result<bool> {
        Ok(false)
    }

    /// Whether [`extents`](Server::extents) can be called.  Not named:
    /// true if `extents` is named.
    fn can_extents(&self) -> Result<bool> {
        Ok(false)
    }

    /// How cache requests are handled.  Not named:
    /// [`CacheMode::Native`] if [`cache`](Server::cache) is named, else
    /// [`CacheMode::None`].
    fn can_cache(&self) -> Result<CacheMode> {
        Ok(CacheMode::None)
    }

    // ---- Per connection: data. ----

    /// Reads exactly `buf.len()` bytes at `offset` (the server has
    /// checked the range is inside the export).
    fn read_at(&self, buf: &mut [u8], offset: u64, flags: Flags) -> Result<()>;

    /// Writes `buf` at `offset`.  With [`Flags::FUA`] the data must be
    /// durable before returning (if [`can_fua`](Server::can_fua) is
    /// [`FuaMode::Native`]).
    fn write_at(&self, _buf: &[u8], _offset: u64, _flags: Flags) -> Result<()> {
        not_implemented("write_at")
    }

    /// Makes all completed writes durable.
    fn flush(&self, _flags: Flags) -> Result<()> {
        not_implemented("flush")
    }

    /// Discards `count` bytes at `offset`; reads of the range may then
    /// return anything.
    fn trim(&self, _count: u32, _offset: u64, _flags: Flags) -> Result<()> {
        not_implemented("trim")
    }

    /// Writes `count` zero bytes at `offset`; with [`Flags::MAY_TRIM`]
    /// the range may become a hole.  Failing with `EOPNOTSUPP` makes the
    /// server fall back to writing zeroes, unless the request has
    /// [`Flags::FAST_ZERO`].
    fn zero(&self, _count: u32, _offset: u64, _flags: Flags) -> Result<()> {
        not_implemented("zero")
    }

    /// Describes the allocation of the range `[offset, offset + count)`
    /// by adding extents to `extents`, in order and from at most
    /// `offset`.  With [`Flags::REQ_ONE`] one extent is enough.
    fn extents(
        &self,
        _count: u32,
        _offset: u64,
        _flags: Flags,
        _extents: &mut Extents,
    ) -> Result<()> {
        not_implemented("extents")
    }

    /// Prefetches a range into a cache, if the plugin has one.
    fn cache(&self, _count: u32, _offset: u64, _flags: Flags) -> Result<()> {
        not_implemented("cache")
    }
}
