//! The raw API: [`Plugin`], a Rust image of C's `struct nbdkit_plugin`.

use std::fmt;
use std::mem;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;
use std::str::FromStr;

use crate::error::{errno, Error};
use crate::types::{Exports, Extents};

/// How much concurrency the plugin can take.
///
/// The server runs the plugin under the strictest of the model the
/// plugin asks for and the model the server itself supports.  See
/// nbdkit-plugin(3), section THREADS.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ThreadModel {
    /// One client connection at a time.
    SerializeConnections = 0,
    /// Many connections, but only one callback runs at a time across
    /// the whole plugin.
    SerializeAllRequests = 1,
    /// One request at a time per connection; different connections run
    /// in parallel.
    SerializeRequests = 2,
    /// Requests run in parallel, even on one connection.
    Parallel = 3,
}

impl ThreadModel {
    /// The name the server uses for this model, as printed by
    /// `nbdkit --dump-plugin` (`serialize_connections`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ThreadModel::SerializeConnections => "serialize_connections",
            ThreadModel::SerializeAllRequests => "serialize_all_requests",
            ThreadModel::SerializeRequests => "serialize_requests",
            ThreadModel::Parallel => "parallel",
        }
    }

    /// The model with the C value `v`, if there is one.
    pub fn from_c_int(v: c_int) -> Option<ThreadModel> {
        match v {
            0 => Some(ThreadModel::SerializeConnections),
            1 => Some(ThreadModel::SerializeAllRequests),
            2 => Some(ThreadModel::SerializeRequests),
            3 => Some(ThreadModel::Parallel),
            _ => None,
        }
    }
}

impl fmt::Display for ThreadModel {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses the names printed by [`ThreadModel::name`]; `-` may be used
/// instead of `_`, and case does not matter.
impl FromStr for ThreadModel {
    type Err = Error;

    fn from_str(s: &str) -> Result<ThreadModel, Error> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        for m in [
            ThreadModel::SerializeConnections,
            ThreadModel::SerializeAllRequests,
            ThreadModel::SerializeRequests,
            ThreadModel::Parallel,
        ] {
            if norm == m.name() {
                return Ok(m);
            }
        }
        Err(Error::new(
            errno::EINVAL,
            format!("unknown thread model: {s}"),
        ))
    }
}

/// Callback type of `pread`.
pub type PreadFn =
    extern "C" fn(h: *mut c_void, buf: *mut c_char, count: u32, offset: u64, flags: u32) -> c_int;

/// Callback type of `pwrite`.
pub type PwriteFn =
    extern "C" fn(h: *mut c_void, buf: *const c_char, count: u32, offset: u64, flags: u32) -> c_int;

/// Callback type shared by `trim`, `zero` and `cache`.
pub type RangeFn = extern "C" fn(h: *mut c_void, count: u32, offset: u64, flags: u32) -> c_int;

/// Callback type of `extents`.
pub type ExtentsFn = extern "C" fn(
    h: *mut c_void,
    count: u32,
    offset: u64,
    flags: u32,
    extents: *mut Extents,
) -> c_int;

/// Callback type of every `can_*` and of `is_rotational`.
pub type HandleIntFn = extern "C" fn(h: *mut c_void) -> c_int;

/// The plugin description returned by `plugin_init`, field for field
/// the C `struct nbdkit_plugin` (API version 2) up to and including
/// `block_size` (384 bytes on 64-bit Linux).
///
/// This is the raw API: each callback is called directly by the server
/// with C arguments, exactly as in a C plugin, so read nbdkit-plugin(3)
/// for what each one must do.  Callbacks return `-1` on error after
/// calling [`error`](crate::error()) (or [`Error::report`]), and `0` or
/// a positive value on success.
///
/// Create it with [`Plugin::new`], which fills in the four required
/// fields and leaves every optional one unset, then set the optional
/// fields you need and leak the value from `plugin_init`:
///
/// ```
/// # extern crate nbdkit;
/// use nbdkit::*;
///
/// extern "C" fn open(_readonly: c_int) -> *mut c_void { 1 as *mut c_void }
/// extern "C" fn get_size(_h: *mut c_void) -> i64 { 0 }
/// extern "C" fn pread(_h: *mut c_void, _buf: *mut c_char, _count: u32,
///                     _offset: u64, _flags: u32) -> c_int { 0 }
///
/// #[no_mangle]
/// pub extern "C" fn plugin_init() -> *const Plugin {
///     let name = "empty\0" as *const str as *const [c_char] as *const c_char;
///     let plugin = Plugin::new(name, open, get_size, pread);
///     Box::into_raw(Box::new(plugin))
/// }
/// # fn main() { assert!(!plugin_init().is_null()); }
/// ```
///
/// String fields (`name`, `longname`, `version`, `description`,
/// `config_help`, `magic_config_key`) must point to NUL-terminated
/// strings that live as long as the plugin is loaded.
///
/// Panics must not unwind out of a raw callback (they would abort the
/// server); use [`guard`](crate::guard) inside callbacks that might
/// panic, or use the safe [`Server`](crate::Server) API, which does
/// this for you.
#[repr(C)]
pub struct Plugin {
    _struct_size: u64,
    _api_version: c_int,
    _thread_model: c_int,

    /// Short name: letters, digits and non-leading `-` (required).
    pub name: *const c_char,
    /// Longer name for humans.
    pub longname: *const c_char,
    /// Plugin version string.
    pub version: *const c_char,
    /// One-paragraph description.
    pub description: *const c_char,

    /// Called right after the plugin is loaded.
    pub load: Option<extern "C" fn()>,
    /// Called just before the plugin is unloaded.
    pub unload: Option<extern "C" fn()>,

    /// Called for each `key=value` parameter.
    pub config: Option<extern "C" fn(key: *const c_char, value: *const c_char) -> c_int>,
    /// Called after the last `config`.
    pub config_complete: Option<extern "C" fn() -> c_int>,
    /// Help for the parameters (`nbdkit PLUGIN --help`).
    pub config_help: *const c_char,

    /// Opens a connection and returns its handle, non-NULL (required).
    pub open: extern "C" fn(readonly: c_int) -> *mut c_void,
    /// Closes the handle.
    pub close: Option<extern "C" fn(h: *mut c_void)>,

    /// Size of the export in bytes (required).
    pub get_size: extern "C" fn(h: *mut c_void) -> i64,

    /// Whether the export is writable (default: `pwrite` is set).
    pub can_write: Option<HandleIntFn>,
    /// Whether flush works (default: `flush` is set).
    pub can_flush: Option<HandleIntFn>,
    /// Whether the storage is a spinning disk (default: no).
    pub is_rotational: Option<HandleIntFn>,
    /// Whether trim works (default: `trim` is set).
    pub can_trim: Option<HandleIntFn>,

    // The API version 1 data callbacks; never used from Rust.
    _pread_v1: Option<extern "C" fn()>,
    _pwrite_v1: Option<extern "C" fn()>,
    _flush_v1: Option<extern "C" fn()>,
    _trim_v1: Option<extern "C" fn()>,
    _zero_v1: Option<extern "C" fn()>,

    /// If non-zero, a data callback that fails without calling
    /// [`set_error`](crate::set_error) sends the client the C `errno`.
    pub errno_is_preserved: c_int,

    /// Prints extra `key=value` lines for `--dump-plugin`.
    pub dump_plugin: Option<extern "C" fn()>,

    /// Whether `zero` is efficient (default: `zero` is set).
    pub can_zero: Option<HandleIntFn>,
    /// `NBDKIT_FUA_*` (default: emulated if `flush` is set).
    pub can_fua: Option<HandleIntFn>,

    /// Reads `count` bytes at `offset` into `buf` (required).
    pub pread: PreadFn,
    /// Writes `count` bytes from `buf` at `offset`.
    pub pwrite: Option<PwriteFn>,
    /// Makes completed writes durable.
    pub flush: Option<extern "C" fn(h: *mut c_void, flags: u32) -> c_int>,
    /// Discards a range.
    pub trim: Option<RangeFn>,
    /// Writes zeroes to a range.
    pub zero: Option<RangeFn>,

    /// Key given to a bare `value` parameter.
    pub magic_config_key: *const c_char,

    /// Whether connections see a consistent view (default: no).
    pub can_multi_conn: Option<HandleIntFn>,

    /// Whether `extents` works (default: `extents` is set).
    pub can_extents: Option<HandleIntFn>,
    /// Report the allocation status of a range.  Wrap the last argument
    /// with [`Extents::from_ptr`] to add extents safely.
    pub extents: Option<ExtentsFn>,

    /// `NBDKIT_CACHE_*` (default: native if `cache` is set).
    pub can_cache: Option<HandleIntFn>,
    /// Prefetches a range.
    pub cache: Option<RangeFn>,

    /// Can only make the thread model stricter than
    /// [`Plugin::set_thread_model`] (default: parallel).
    ///
    /// The C callback returns -1 on error, but -1 is not a
    /// [`ThreadModel`] and must never be returned through this type
    /// (not even by transmuting: Rust code calling the field would read
    /// an invalid enum).  A raw callback that must fail logs the error
    /// and calls `std::process::exit(1)`, which is what the server does
    /// on -1; the safe API does this for you.
    pub thread_model: Option<extern "C" fn() -> ThreadModel>,

    /// Whether fast zero requests are honoured.
    pub can_fast_zero: Option<HandleIntFn>,

    /// Called when a client connects, before negotiation.
    pub preconnect: Option<extern "C" fn(readonly: c_int) -> c_int>,

    /// Called after configuration, before serving.
    pub get_ready: Option<extern "C" fn() -> c_int>,
    /// Called after the server has forked into the background.
    pub after_fork: Option<extern "C" fn() -> c_int>,

    /// Wrap the last argument with [`Exports::from_ptr`].
    pub list_exports:
        Option<extern "C" fn(readonly: c_int, is_tls: c_int, exports: *mut Exports) -> c_int>,
    /// The returned string must outlive the call; see
    /// [`intern`](crate::intern).
    pub default_export: Option<extern "C" fn(readonly: c_int, is_tls: c_int) -> *const c_char>,
    /// The returned string must outlive the call; see
    /// [`intern`](crate::intern).
    pub export_description: Option<extern "C" fn(h: *mut c_void) -> *const c_char>,

    /// Called at shutdown, before `unload`.
    pub cleanup: Option<extern "C" fn()>,

    /// Block size constraints (minimum, preferred, maximum).
    pub block_size: Option<
        extern "C" fn(
            h: *mut c_void,
            minimum: *mut u32,
            preferred: *mut u32,
            maximum: *mut u32,
        ) -> c_int,
    >,
}

impl Plugin {
    /// A plugin with the four required fields set and nothing else:
    /// API version 2, thread model [`ThreadModel::Parallel`] (tighten it
    /// with the `thread_model` callback or [`Plugin::set_thread_model`]).
    ///
    /// `name` must point to a NUL-terminated string that lives forever,
    /// such as a string literal ending in `\0`.
    pub fn new(
        name: *const c_char,
        open: extern "C" fn(c_int) -> *mut c_void,
        get_size: extern "C" fn(*mut c_void) -> i64,
        pread: PreadFn,
    ) -> Plugin {
        Plugin {
            _struct_size: mem::size_of::<Plugin>() as u64,
            _api_version: crate::ffi::NBDKIT_API_VERSION,
            _thread_model: ThreadModel::Parallel as c_int,

            name,
            longname: ptr::null(),
            version: ptr::null(),
            description: ptr::null(),

            load: None,
            unload: None,

            config: None,
            config_complete: None,
            config_help: ptr::null(),

            open,
            close: None,

            get_size,

            can_write: None,
            can_flush: None,
            is_rotational: None,
            can_trim: None,

            _pread_v1: None,
            _pwrite_v1: None,
            _flush_v1: None,
            _trim_v1: None,
            _zero_v1: None,

            errno_is_preserved: 0,

            dump_plugin: None,

            can_zero: None,
            can_fua: None,

            pread,
            pwrite: None,
            flush: None,
            trim: None,
            zero: None,

            magic_config_key: ptr::null(),

            can_multi_conn: None,

            can_extents: None,
            extents: None,

            can_cache: None,
            cache: None,

            thread_model: None,

            can_fast_zero: None,

            preconnect: None,

            get_ready: None,
            after_fork: None,

            list_exports: None,
            default_export: None,
            export_description: None,

            cleanup: None,

            block_size: None,
        }
    }

    /// Sets the plugin's maximum thread model, the equivalent of
    /// `#define THREAD_MODEL` in C.  The default is
    /// [`ThreadModel::Parallel`].
    pub fn set_thread_model(&mut self, model: ThreadModel) {
        self._thread_model = model as c_int;
    }

    /// The maximum thread model (see [`Plugin::set_thread_model`]).
    pub fn max_thread_model(&self) -> ThreadModel {
        ThreadModel::from_c_int(self._thread_model).unwrap_or(ThreadModel::SerializeConnections)
    }

    /// `_struct_size`: how many bytes of this struct the server reads.
    pub fn struct_size(&self) -> u64 {
        self._struct_size
    }

    /// `_api_version`: always 2.
    pub fn api_version(&self) -> c_int {
        self._api_version
    }
}

#[cfg(test)]
mod layout_tests {
    //! `Plugin` must match C's `struct nbdkit_plugin` byte for byte.
    //! Offsets are checked against a table (x86-64 and every other
    //! LP64 target) and, when a C compiler and the header are at hand,
    //! against the header itself.

    use super::*;
    use std::mem::{align_of, size_of, MaybeUninit};
    use std::path::PathBuf;
    use std::process::Command;

    macro_rules! offsets {
        ($($f:ident),* $(,)?) => {{
            let u = MaybeUninit::<Plugin>::uninit();
            let base = u.as_ptr();
            vec![$((
                stringify!($f),
                unsafe { ptr::addr_of!((*base).$f) as usize - base as usize },
            )),*]
        }};
    }

    /// Every field of the C struct, in order, with its offset.
    fn rust_offsets() -> Vec<(&'static str, usize)> {
        offsets!(
            _struct_size,
            _api_version,
            _thread_model,
            name,
            longname,
            version,
            description,
            load,
            unload,
            config,
            config_complete,
            config_help,
            open,
            close,
            get_size,
            can_write,
            can_flush,
            is_rotational,
            can_trim,
            _pread_v1,
            _pwrite_v1,
            _flush_v1,
            _trim_v1,
            _zero_v1,
            errno_is_preserved,
            dump_plugin,
            can_zero,
            can_fua,
            pread,
            pwrite,
            flush,
            trim,
            zero,
            magic_config_key,
            can_multi_conn,
            can_extents,
            extents,
            can_cache,
            cache,
            thread_model,
            can_fast_zero,
            preconnect,
            get_ready,
            after_fork,
            list_exports,
            default_export,
            export_description,
            cleanup,
            block_size,
        )
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn size_and_offsets_lp64() {
        // From reference §4.1 (gcc, x86-64): 0, 8, 12, then one
        // 8-byte slot per field from 16, except errno_is_preserved
        // (an int) which still occupies a full slot due to alignment.
        let expected: Vec<usize> = [0usize, 8, 12]
            .iter()
            .cloned()
            .chain((0..46).map(|i| 16 + 8 * i))
            .collect();
        let got = rust_offsets();
        assert_eq!(got.len(), 49, "struct nbdkit_plugin has 49 fields");
        for ((name, off), want) in got.iter().zip(expected.iter()) {
            assert_eq!(off, want, "offset of {name}");
        }
        assert_eq!(size_of::<Plugin>(), 384);
        assert_eq!(align_of::<Plugin>(), 8);
        let p = Plugin::new(ptr::null(), dummy_open, dummy_get_size, dummy_pread);
        assert_eq!(p.struct_size(), 384);
    }

    #[test]
    fn fields_are_in_order_and_cover_the_struct() {
        let got = rust_offsets();
        for w in got.windows(2) {
            assert!(w[0].1 < w[1].1, "{} must come before {}", w[0].0, w[1].0);
        }
        let last = got.last().unwrap();
        assert_eq!(last.0, "block_size");
        assert_eq!(last.1 + size_of::<usize>(), size_of::<Plugin>());
    }

    #[test]
    fn enum_and_callback_sizes() {
        assert_eq!(size_of::<ThreadModel>(), size_of::<c_int>());
        assert_eq!(size_of::<Option<PreadFn>>(), size_of::<usize>());
        assert_eq!(size_of::<PreadFn>(), size_of::<usize>());
        assert_eq!(ThreadModel::SerializeConnections as c_int, 0);
        assert_eq!(ThreadModel::SerializeAllRequests as c_int, 1);
        assert_eq!(ThreadModel::SerializeRequests as c_int, 2);
        assert_eq!(ThreadModel::Parallel as c_int, 3);
    }

    extern "C" fn dummy_open(_: c_int) -> *mut c_void {
        ptr::null_mut()
    }
    extern "C" fn dummy_get_size(_: *mut c_void) -> i64 {
        0
    }
    extern "C" fn dummy_pread(_: *mut c_void, _: *mut c_char, _: u32, _: u64, _: u32) -> c_int {
        0
    }

    /// The directory holding nbdkit-plugin.h: the source tree's
    /// include/ if the crate is in its usual place, else the system's.
    fn header_dir() -> Option<PathBuf> {
        let tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include");
        if tree.join("nbdkit-plugin.h").exists() {
            return Some(tree);
        }
        let sys = PathBuf::from("/usr/include");
        if sys.join("nbdkit-plugin.h").exists() {
            return Some(sys);
        }
        None
    }

    #[test]
    fn offsets_match_the_c_header() {
        let dir = match header_dir() {
            Some(d) => d,
            None => {
                eprintln!("SKIP: nbdkit-plugin.h not found");
                return;
            }
        };
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
        let fields = rust_offsets();

        let mut src = String::from(
            "#define NBDKIT_API_VERSION 2\n\
             #include <stdio.h>\n#include <stddef.h>\n#include <nbdkit-plugin.h>\n\
             int main (void) {\n\
             printf (\"sizeof %zu\\n\", sizeof (struct nbdkit_plugin));\n",
        );
        for (name, _) in &fields {
            src.push_str(&format!(
                "printf (\"{name} %zu\\n\", offsetof (struct nbdkit_plugin, {name}));\n"
            ));
        }
        src.push_str("return 0;\n}\n");

        let tmp = std::env::temp_dir().join(format!("nbdkit-rust-layout-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let c_file = tmp.join("layout.c");
        let exe = tmp.join("layout");
        std::fs::write(&c_file, src).unwrap();
        let status = Command::new(&cc)
            .arg("-I")
            .arg(&dir)
            .arg("-o")
            .arg(&exe)
            .arg(&c_file)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!(
                "compiling the layout program against {} failed: {s}",
                dir.display()
            ),
            Err(e) => {
                eprintln!("SKIP: cannot run the C compiler {cc}: {e}");
                let _ = std::fs::remove_dir_all(&tmp);
                return;
            }
        }
        let out = Command::new(&exe).output().unwrap();
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();

        let size_line = lines.next().unwrap();
        assert_eq!(
            size_line,
            format!("sizeof {}", size_of::<Plugin>()),
            "struct size"
        );
        for ((name, off), line) in fields.iter().zip(lines) {
            assert_eq!(
                line,
                format!("{name} {off}"),
                "offset of {name} in {}",
                dir.display()
            );
        }
    }
}

#[cfg(test)]
mod thread_model_tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in [
            ThreadModel::SerializeConnections,
            ThreadModel::SerializeAllRequests,
            ThreadModel::SerializeRequests,
            ThreadModel::Parallel,
        ] {
            assert_eq!(m.name().parse::<ThreadModel>().unwrap(), m);
            assert_eq!(ThreadModel::from_c_int(m as c_int), Some(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(
            "Serialize-Requests".parse::<ThreadModel>().unwrap(),
            ThreadModel::SerializeRequests
        );
        let e = "fast".parse::<ThreadModel>().unwrap_err();
        assert_eq!(e.errno(), errno::EINVAL);
        assert_eq!(ThreadModel::from_c_int(4), None);
        assert!(ThreadModel::SerializeConnections < ThreadModel::Parallel);
    }

    #[test]
    fn new_sets_only_the_required_fields() {
        extern "C" fn o(_: c_int) -> *mut c_void {
            ptr::null_mut()
        }
        extern "C" fn g(_: *mut c_void) -> i64 {
            7
        }
        extern "C" fn r(_: *mut c_void, _: *mut c_char, _: u32, _: u64, _: u32) -> c_int {
            0
        }
        let name = b"x\0".as_ptr() as *const c_char;
        let mut p = Plugin::new(name, o, g, r);
        assert_eq!(p.api_version(), 2);
        assert_eq!(p.max_thread_model(), ThreadModel::Parallel);
        assert_eq!(p.name, name);
        assert_eq!((p.get_size)(ptr::null_mut()), 7);
        assert!(p.close.is_none() && p.pwrite.is_none() && p.block_size.is_none());
        assert!(p.longname.is_null() && p.config_help.is_null());
        assert_eq!(p.errno_is_preserved, 0);
        p.set_thread_model(ThreadModel::SerializeRequests);
        assert_eq!(p._thread_model, 2);
        // The v1 slots are never set.
        assert!(p._pread_v1.is_none() && p._zero_v1.is_none());
    }
}
