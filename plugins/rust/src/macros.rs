//! `plugin!`, `error!` and `debug!`.

/// Generates `plugin_init` for a type that implements
/// [`Server`](crate::Server).
///
/// Name, in braces, every optional [`Server`](crate::Server) method the
/// type implements; the server only calls (and advertises) those.  The
/// required methods and the identity strings (`longname`, `version`,
/// `description`, `config_help`, `magic_config_key`) are always used
/// and need not be named, though naming them is allowed.
///
/// ```
/// use nbdkit::*;
/// # struct Disk;
/// # impl Server for Disk {
/// #     fn name() -> &'static str { "disk" }
/// #     fn open(_: bool) -> Result<Disk> { Ok(Disk) }
/// #     fn get_size(&self) -> Result<u64> { Ok(0) }
/// #     fn read_at(&self, _: &mut [u8], _: u64, _: Flags) -> Result<()> { Ok(()) }
/// # }
/// plugin!(Disk { write_at, flush, trim, zero, extents, can_fua, thread_model });
/// # fn main() {}
/// ```
///
/// The names and the C callbacks they provide: `load`, `unload`,
/// `config`, `config_complete`, `dump_plugin`, `thread_model`,
/// `get_ready`, `after_fork`, `cleanup`, `preconnect`, `list_exports`,
/// `default_export`, `export_description`, `block_size`, `can_write`,
/// `can_flush`, `is_rotational`, `can_trim`, `can_zero`,
/// `can_fast_zero`, `can_fua`, `can_multi_conn`, `can_extents`,
/// `can_cache`, `write_at` (`pwrite`), `flush`, `trim`, `zero`,
/// `extents` and `cache`.  An unknown name is a compile error:
///
/// ```compile_fail
/// use nbdkit::*;
/// # struct Disk;
/// # impl Server for Disk {
/// #     fn name() -> &'static str { "disk" }
/// #     fn open(_: bool) -> Result<Disk> { Ok(Disk) }
/// #     fn get_size(&self) -> Result<u64> { Ok(0) }
/// #     fn read_at(&self, _: &mut [u8], _: u64, _: Flags) -> Result<()> { Ok(()) }
/// # }
/// plugin!(Disk { pwrite }); // the method is called write_at
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! plugin {
    ($t:ty { $($cb:ident),* $(,)? }) => {
        /// The entry point nbdkit looks up when it loads the plugin.
        #[no_mangle]
        pub extern "C" fn plugin_init() -> *const $crate::Plugin {
            $crate::glue::plugin_init::<$t, _>(|_p: &mut $crate::Plugin| {
                $( $crate::__plugin_callback!(_p, $t, $cb); )*
            })
        }
    };
    ($t:ty) => {
        $crate::plugin!($t {});
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_callback {
    // Always present, or data rather than callbacks.
    ($p:ident, $t:ty, name) => {};
    ($p:ident, $t:ty, open) => {};
    ($p:ident, $t:ty, get_size) => {};
    ($p:ident, $t:ty, read_at) => {};
    ($p:ident, $t:ty, longname) => {};
    ($p:ident, $t:ty, version) => {};
    ($p:ident, $t:ty, description) => {};
    ($p:ident, $t:ty, config_help) => {};
    ($p:ident, $t:ty, magic_config_key) => {};

    ($p:ident, $t:ty, thread_model) => {
        $crate::__plugin_callback!(@same $p, $t, thread_model);
    };
    ($p:ident, $t:ty, write_at) => {
        $p.pwrite = Some($crate::glue::pwrite::<$t>);
    };

    ($p:ident, $t:ty, load) => { $crate::__plugin_callback!(@same $p, $t, load); };
    ($p:ident, $t:ty, unload) => { $crate::__plugin_callback!(@same $p, $t, unload); };
    ($p:ident, $t:ty, config) => { $crate::__plugin_callback!(@same $p, $t, config); };
    ($p:ident, $t:ty, config_complete) => {
        $crate::__plugin_callback!(@same $p, $t, config_complete);
    };
    ($p:ident, $t:ty, dump_plugin) => { $crate::__plugin_callback!(@same $p, $t, dump_plugin); };
    ($p:ident, $t:ty, get_ready) => { $crate::__plugin_callback!(@same $p, $t, get_ready); };
    ($p:ident, $t:ty, after_fork) => { $crate::__plugin_callback!(@same $p, $t, after_fork); };
    ($p:ident, $t:ty, cleanup) => { $crate::__plugin_callback!(@same $p, $t, cleanup); };
    ($p:ident, $t:ty, preconnect) => { $crate::__plugin_callback!(@same $p, $t, preconnect); };
    ($p:ident, $t:ty, list_exports) => {
        $crate::__plugin_callback!(@same $p, $t, list_exports);
    };
    ($p:ident, $t:ty, default_export) => {
        $crate::__plugin_callback!(@same $p, $t, default_export);
    };
    ($p:ident, $t:ty, export_description) => {
        $crate::__plugin_callback!(@same $p, $t, export_description);
    };
    ($p:ident, $t:ty, block_size) => { $crate::__plugin_callback!(@same $p, $t, block_size); };
    ($p:ident, $t:ty, can_write) => { $crate::__plugin_callback!(@same $p, $t, can_write); };
    ($p:ident, $t:ty, can_flush) => { $crate::__plugin_callback!(@same $p, $t, can_flush); };
    ($p:ident, $t:ty, is_rotational) => {
        $crate::__plugin_callback!(@same $p, $t, is_rotational);
    };
    ($p:ident, $t:ty, can_trim) => { $crate::__plugin_callback!(@same $p, $t, can_trim); };
    ($p:ident, $t:ty, can_zero) => { $crate::__plugin_callback!(@same $p, $t, can_zero); };
    ($p:ident, $t:ty, can_fast_zero) => {
        $crate::__plugin_callback!(@same $p, $t, can_fast_zero);
    };
    ($p:ident, $t:ty, can_fua) => { $crate::__plugin_callback!(@same $p, $t, can_fua); };
    ($p:ident, $t:ty, can_multi_conn) => {
        $crate::__plugin_callback!(@same $p, $t, can_multi_conn);
    };
    ($p:ident, $t:ty, can_extents) => { $crate::__plugin_callback!(@same $p, $t, can_extents); };
    ($p:ident, $t:ty, can_cache) => { $crate::__plugin_callback!(@same $p, $t, can_cache); };
    ($p:ident, $t:ty, flush) => { $crate::__plugin_callback!(@same $p, $t, flush); };
    ($p:ident, $t:ty, trim) => { $crate::__plugin_callback!(@same $p, $t, trim); };
    ($p:ident, $t:ty, zero) => { $crate::__plugin_callback!(@same $p, $t, zero); };
    ($p:ident, $t:ty, extents) => { $crate::__plugin_callback!(@same $p, $t, extents); };
    ($p:ident, $t:ty, cache) => { $crate::__plugin_callback!(@same $p, $t, cache); };

    // The method and the C field have the same name.
    (@same $p:ident, $t:ty, $f:ident) => {
        $p.$f = Some($crate::glue::$f::<$t>);
    };

    ($p:ident, $t:ty, $other:ident) => {
        compile_error!(concat!(
            "nbdkit::plugin!: `",
            stringify!($other),
            "` is not an optional Server method"
        ));
    };
}

/// Formats a message and writes it to the server's log as an error
/// (`nbdkit_error`).
///
/// ```no_run
/// nbdkit::error!("cannot open {}: {}", "disk.img", "No such file");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => {
        $crate::error(&::std::format!($($arg)*))
    };
}

/// Formats a message and writes it to the server's log as a debug
/// message (`nbdkit_debug`); shown only when the server runs with `-v`.
///
/// ```no_run
/// nbdkit::debug!("read {} bytes at {}", 512, 0);
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        $crate::debug(&::std::format!($($arg)*))
    };
}
