//! The callbacks `plugin!` generates, driven through the C function
//! pointers of the Plugin it returns, as the server would.  The server's
//! functions are stubs (tests/common/stubs.rs) that record errors,
//! errnos and extents.

mod common;

use std::ffi::{CStr, CString};
use std::mem;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

use common::serial;
use common::stubs::{self, TestExports, TestExtents};
use nbdkit::*;

const SIZE: u64 = 64 * 1024;
const PANIC_OFFSET: u64 = 60000;
const ENOSPC_OFFSET: u64 = 50000;

static OPEN: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
static LAST_FLAGS: AtomicU32 = AtomicU32::new(0);
static FAIL_OPEN: AtomicBool = AtomicBool::new(false);
static PANIC_OPEN: AtomicBool = AtomicBool::new(false);
static PANIC_DROP: AtomicBool = AtomicBool::new(false);
static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static MODEL: Mutex<Option<ThreadModel>> = Mutex::new(Some(ThreadModel::SerializeRequests));
static PANIC_MODEL: AtomicBool = AtomicBool::new(false);

fn event(s: &str) {
    EVENTS.lock().unwrap().push(s.to_owned());
}

fn take_events() -> Vec<String> {
    mem::take(&mut *EVENTS.lock().unwrap())
}

struct TestDisk {
    data: Mutex<Vec<u8>>,
    readonly: bool,
}

impl Drop for TestDisk {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
        if PANIC_DROP.load(Ordering::SeqCst) {
            panic!("drop panicked");
        }
    }
}

impl Server for TestDisk {
    fn name() -> &'static str {
        "testdisk"
    }
    fn longname() -> Option<&'static str> {
        Some("Test Disk")
    }
    fn version() -> Option<&'static str> {
        Some("9.9")
    }
    fn description() -> Option<&'static str> {
        Some("a disk for tests")
    }
    fn config_help() -> Option<&'static str> {
        Some("size=<SIZE>")
    }
    fn magic_config_key() -> Option<&'static str> {
        Some("size")
    }

    fn load() {
        event("load");
    }
    fn unload() {
        event("unload");
    }
    fn config(key: &str, value: &str) -> Result<()> {
        match key {
            "size" => {
                parse_size(value)?;
                event(&format!("config {key}={value}"));
                Ok(())
            }
            "boom" => panic!("config panicked"),
            _ => Err(Error::new(
                errno::EINVAL,
                format!("unknown parameter '{key}'"),
            )),
        }
    }
    fn config_complete() -> Result<()> {
        event("config_complete");
        Ok(())
    }
    fn dump_plugin() {
        event("dump_plugin");
    }
    fn thread_model() -> Result<ThreadModel> {
        if PANIC_MODEL.load(Ordering::SeqCst) {
            panic!("thread_model panicked");
        }
        MODEL
            .lock()
            .unwrap()
            .ok_or_else(|| Error::new(errno::EINVAL, "no model"))
    }
    fn get_ready() -> Result<()> {
        event("get_ready");
        Ok(())
    }
    fn after_fork() -> Result<()> {
        Err(Error::new(errno::ENOMEM, "after_fork failed"))
    }
    fn cleanup() {
        event("cleanup");
    }
    fn preconnect(readonly: bool) -> Result<()> {
        if readonly {
            Err(Error::new(errno::EPERM, "read-only clients not welcome"))
        } else {
            Ok(())
        }
    }
    fn list_exports(readonly: bool, is_tls: bool, exports: &mut Exports) -> Result<()> {
        exports.add("a", Some(&format!("ro={readonly} tls={is_tls}")))?;
        exports.add("b", None)?;
        exports.use_default()
    }
    fn default_export(_readonly: bool, is_tls: bool) -> Result<String> {
        if is_tls {
            Ok("secure".to_owned())
        } else {
            Ok("plain\0bad".to_owned())
        }
    }

    fn open(readonly: bool) -> Result<TestDisk> {
        if PANIC_OPEN.load(Ordering::SeqCst) {
            panic!("open panicked");
        }
        if FAIL_OPEN.load(Ordering::SeqCst) {
            return Err(Error::new(
                errno::ENOENT,
                format!("no export {}", export_name()?),
            ));
        }
        OPEN.fetch_add(1, Ordering::SeqCst);
        Ok(TestDisk {
            data: Mutex::new(vec![0; SIZE as usize]),
            readonly,
        })
    }

    fn get_size(&self) -> Result<u64> {
        if self.readonly {
            // Larger than the protocol allows.
            Ok(u64::MAX)
        } else {
            Ok(SIZE)
        }
    }
    fn export_description(&self) -> Result<String> {
        Ok(format!("{} bytes", SIZE))
    }
    fn block_size(&self) -> Result<BlockSize> {
        Ok(BlockSize {
            minimum: 512,
            preferred: 4096,
            maximum: 1 << 20,
        })
    }
    fn can_write(&self) -> Result<bool> {
        Ok(!self.readonly)
    }
    fn can_flush(&self) -> Result<bool> {
        Ok(true)
    }
    fn is_rotational(&self) -> Result<bool> {
        Ok(false)
    }
    fn can_trim(&self) -> Result<bool> {
        Err(Error::new(errno::EIO, "can_trim failed"))
    }
    fn can_zero(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_fast_zero(&self) -> Result<bool> {
        Ok(false)
    }
    fn can_fua(&self) -> Result<FuaMode> {
        Ok(FuaMode::Native)
    }
    fn can_multi_conn(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_extents(&self) -> Result<bool> {
        Ok(true)
    }
    fn can_cache(&self) -> Result<CacheMode> {
        Ok(CacheMode::Emulate)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64, flags: Flags) -> Result<()> {
        LAST_FLAGS.store(flags.bits(), Ordering::SeqCst);
        if offset <= PANIC_OFFSET && PANIC_OFFSET < offset + buf.len() as u64 {
            panic!("read of {} bytes at {offset} panicked", buf.len());
        }
        let o = offset as usize;
        buf.copy_from_slice(&self.data.lock().unwrap()[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&self, buf: &[u8], offset: u64, flags: Flags) -> Result<()> {
        LAST_FLAGS.store(flags.bits(), Ordering::SeqCst);
        if offset == ENOSPC_OFFSET {
            return Err(Error::new(errno::ENOSPC, "disk full"));
        }
        let o = offset as usize;
        self.data.lock().unwrap()[o..o + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&self, flags: Flags) -> Result<()> {
        LAST_FLAGS.store(flags.bits() | 0x100, Ordering::SeqCst);
        Ok(())
    }
    fn trim(&self, count: u32, offset: u64, flags: Flags) -> Result<()> {
        self.zero(count, offset, flags)
    }
    fn zero(&self, count: u32, offset: u64, flags: Flags) -> Result<()> {
        LAST_FLAGS.store(flags.bits(), Ordering::SeqCst);
        if flags.contains(Flags::FAST_ZERO) {
            return Err(Error::new(errno::ENOTSUP, "not fast"));
        }
        let o = offset as usize;
        self.data.lock().unwrap()[o..o + count as usize].fill(0);
        Ok(())
    }
    fn extents(&self, count: u32, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()> {
        // 4 KiB blocks alternate data / hole, starting at the block
        // that contains offset.
        let end = offset + count as u64;
        let mut pos = offset & !4095;
        while pos < end {
            let t = if (pos / 4096) % 2 == 0 {
                ExtentType::Allocated
            } else {
                ExtentType::HoleZero
            };
            extents.add(pos, 4096, t)?;
            if flags.contains(Flags::REQ_ONE) {
                break;
            }
            pos += 4096;
        }
        Ok(())
    }
    fn cache(&self, _count: u32, offset: u64, _flags: Flags) -> Result<()> {
        if offset == 1 {
            // io::Error converts, keeping a matching errno.
            Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "odd offset").into())
        } else {
            Ok(())
        }
    }
}

plugin!(TestDisk {
    load,
    unload,
    config,
    config_complete,
    dump_plugin,
    thread_model,
    get_ready,
    after_fork,
    cleanup,
    preconnect,
    list_exports,
    default_export,
    export_description,
    block_size,
    can_write,
    can_flush,
    is_rotational,
    can_trim,
    can_zero,
    can_fast_zero,
    can_fua,
    can_multi_conn,
    can_extents,
    can_cache,
    write_at,
    flush,
    trim,
    zero,
    extents,
    cache,
    // Allowed, but already implied:
    longname,
    version,
    description,
    config_help,
    magic_config_key,
});

fn plugin() -> &'static Plugin {
    let p = plugin_init();
    assert!(!p.is_null());
    unsafe { &*p }
}

fn cstr(p: *const c_char) -> &'static str {
    assert!(!p.is_null());
    unsafe { CStr::from_ptr(p) }.to_str().unwrap()
}

/// Checks the last callback failed with this errno and a message
/// containing `msg`.
fn assert_failed(errno: i32, msg: &str) {
    assert_eq!(stubs::take_errno(), errno);
    let errors = stubs::take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(msg),
        "{:?} does not contain {msg:?}",
        errors[0]
    );
}

fn assert_ok() {
    assert_eq!(stubs::take_errno(), 0);
    assert_eq!(stubs::take_errors(), Vec::<String>::new());
}

#[test]
fn identity_and_fields() {
    let _g = serial();
    let p = plugin();
    assert_eq!(p.struct_size(), 384);
    assert_eq!(p.api_version(), 2);
    assert_eq!(p.max_thread_model(), ThreadModel::Parallel);
    assert_eq!(cstr(p.name), "testdisk");
    assert_eq!(cstr(p.longname), "Test Disk");
    assert_eq!(cstr(p.version), "9.9");
    assert_eq!(cstr(p.description), "a disk for tests");
    assert_eq!(cstr(p.config_help), "size=<SIZE>");
    assert_eq!(cstr(p.magic_config_key), "size");
    assert_eq!(p.errno_is_preserved, 0);
    // Every callback was named, so every field is set.
    assert!(p.load.is_some() && p.unload.is_some() && p.config.is_some());
    assert!(p.config_complete.is_some() && p.dump_plugin.is_some());
    assert!(p.thread_model.is_some() && p.get_ready.is_some() && p.after_fork.is_some());
    assert!(p.cleanup.is_some() && p.preconnect.is_some() && p.list_exports.is_some());
    assert!(p.default_export.is_some() && p.export_description.is_some());
    assert!(p.block_size.is_some() && p.close.is_some());
    assert!(p.can_write.is_some() && p.can_flush.is_some() && p.is_rotational.is_some());
    assert!(p.can_trim.is_some() && p.can_zero.is_some() && p.can_fast_zero.is_some());
    assert!(p.can_fua.is_some() && p.can_multi_conn.is_some() && p.can_extents.is_some());
    assert!(p.can_cache.is_some() && p.pwrite.is_some() && p.flush.is_some());
    assert!(p.trim.is_some() && p.zero.is_some() && p.extents.is_some() && p.cache.is_some());
}

#[test]
fn lifecycle_callbacks() {
    let _g = serial();
    let p = plugin();
    take_events();
    (p.load.unwrap())();
    let k = CString::new("size").unwrap();
    let v = CString::new("1M").unwrap();
    assert_eq!((p.config.unwrap())(k.as_ptr(), v.as_ptr()), 0);
    assert_eq!((p.config_complete.unwrap())(), 0);
    assert_eq!((p.get_ready.unwrap())(), 0);
    (p.dump_plugin.unwrap())();
    (p.cleanup.unwrap())();
    (p.unload.unwrap())();
    assert_ok();
    assert_eq!(
        take_events(),
        [
            "load",
            "config size=1M",
            "config_complete",
            "get_ready",
            "dump_plugin",
            "cleanup",
            "unload"
        ]
    );

    assert_eq!((p.after_fork.unwrap())(), -1);
    assert_failed(errno::ENOMEM, "after_fork failed");
}

#[test]
fn config_errors() {
    let _g = serial();
    let p = plugin();
    let config = p.config.unwrap();
    let k = CString::new("colour").unwrap();
    let v = CString::new("red").unwrap();
    assert_eq!(config(k.as_ptr(), v.as_ptr()), -1);
    assert_failed(errno::EINVAL, "unknown parameter 'colour'");

    // Not UTF-8.
    let v = CString::new(vec![b'1', 0xff]).unwrap();
    let size = CString::new("size").unwrap();
    assert_eq!(config(size.as_ptr(), v.as_ptr()), -1);
    assert_failed(errno::EINVAL, "not UTF-8");

    // parse_size fails: the server's own message is the only one.
    let v = CString::new("12Q").unwrap();
    assert_eq!(config(size.as_ptr(), v.as_ptr()), -1);
    assert_failed(errno::EINVAL, "could not parse size string (12Q)");

    // A panic is caught.
    let k = CString::new("boom").unwrap();
    assert_eq!(config(k.as_ptr(), v.as_ptr()), -1);
    assert_failed(errno::EIO, "config: panic: config panicked");
}

#[test]
fn thread_model_returns_a_thread_model() {
    let _g = serial();
    let p = plugin();
    // The field has the historical Rust type, and what it returns is a
    // real ThreadModel (2 for the server, which reads an int).
    let f = p.thread_model.unwrap();
    assert_eq!(f(), ThreadModel::SerializeRequests);
    assert_eq!(f() as c_int, 2);
    assert_ok();
}

/// -1 is not a ThreadModel, so a failing Server::thread_model cannot
/// return it through the field: the glue logs the error and exits with
/// status 1, as the server does on -1.  That ends the process, so the
/// failing calls run in child processes of this test program.
#[test]
fn thread_model_failure_exits_like_the_server() {
    const TEST: &str = "thread_model_failure_exits_like_the_server";
    if let Some(role) = common::child_role(TEST) {
        match role.as_str() {
            "error" => *MODEL.lock().unwrap() = None,
            _ => PANIC_MODEL.store(true, Ordering::SeqCst),
        }
        let m = (plugin().thread_model.unwrap())();
        // Only reached if the glue returns, as it used to, with -1 in
        // a ThreadModel (already undefined behaviour): show the bits
        // in the parent's failure message.
        let bits: c_int = unsafe { mem::transmute_copy(&m) };
        println!("thread_model returned {bits}");
        std::process::exit(0);
    }
    let _g = serial();
    for (role, msg) in [
        ("error", "nbdkit: error: no model"),
        (
            "panic",
            "nbdkit: error: thread_model: panic: thread_model panicked",
        ),
    ] {
        let out = common::run_child(TEST, role);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{role}: stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(stderr.contains(msg), "{role}: stderr:\n{stderr}");
        assert!(!stdout.contains("thread_model returned"), "{stdout}");
    }
}

#[test]
fn preconnect_and_exports() {
    let _g = serial();
    let p = plugin();
    assert_eq!((p.preconnect.unwrap())(0), 0);
    assert_eq!((p.preconnect.unwrap())(1), -1);
    assert_failed(errno::EPERM, "read-only clients not welcome");

    let mut list = TestExports::default();
    let r = (p.list_exports.unwrap())(1, 0, &mut list as *mut TestExports as *mut Exports);
    assert_eq!(r, 0);
    assert_eq!(
        list.list,
        vec![
            ("a".to_owned(), Some("ro=true tls=false".to_owned())),
            ("b".to_owned(), None),
            (String::new(), None),
        ]
    );

    assert_eq!(cstr((p.default_export.unwrap())(0, 1)), "secure");
    assert_ok();
    // A NUL inside the name cannot be passed to C.
    assert!((p.default_export.unwrap())(0, 0).is_null());
    assert_failed(errno::EINVAL, "NUL");
}

#[test]
fn open_close_drops_the_connection_object() {
    let _g = serial();
    let p = plugin();
    let opened = OPEN.load(Ordering::SeqCst);
    let dropped = DROPPED.load(Ordering::SeqCst);
    let h1 = (p.open)(0);
    let h2 = (p.open)(0);
    assert!(!h1.is_null() && !h2.is_null() && h1 != h2);
    assert_eq!(OPEN.load(Ordering::SeqCst), opened + 2);
    (p.close.unwrap())(h1);
    assert_eq!(DROPPED.load(Ordering::SeqCst), dropped + 1);
    (p.close.unwrap())(h2);
    assert_eq!(DROPPED.load(Ordering::SeqCst), dropped + 2);
    assert_ok();

    // A panicking Drop is logged, not propagated.
    let h = (p.open)(0);
    PANIC_DROP.store(true, Ordering::SeqCst);
    (p.close.unwrap())(h);
    PANIC_DROP.store(false, Ordering::SeqCst);
    assert_eq!(DROPPED.load(Ordering::SeqCst), dropped + 3);
    assert_failed(errno::EIO, "close: panic: drop panicked");
}

#[test]
fn open_errors_and_panics_return_null() {
    let _g = serial();
    let p = plugin();
    FAIL_OPEN.store(true, Ordering::SeqCst);
    assert!((p.open)(0).is_null());
    FAIL_OPEN.store(false, Ordering::SeqCst);
    assert_failed(errno::ENOENT, "no export test-export");

    PANIC_OPEN.store(true, Ordering::SeqCst);
    assert!((p.open)(0).is_null());
    PANIC_OPEN.store(false, Ordering::SeqCst);
    assert_failed(errno::EIO, "open: panic: open panicked");

    // And the plugin still works afterwards.
    let h = (p.open)(0);
    assert!(!h.is_null());
    (p.close.unwrap())(h);
    assert_ok();
}

/// Runs `f` on a fresh read-write connection.  (Callers hold serial():
/// the tests share the plugin's statics, e.g. PANIC_OPEN.)
fn with_conn<F: FnOnce(&Plugin, *mut c_void)>(f: F) {
    let p = plugin();
    let h = (p.open)(0);
    assert!(!h.is_null());
    f(p, h);
    (p.close.unwrap())(h);
}

#[test]
fn negotiation_callbacks() {
    let _g = serial();
    with_conn(|p, h| {
        assert_eq!((p.get_size)(h), SIZE as i64);
        assert_eq!((p.can_write.unwrap())(h), 1);
        assert_eq!((p.can_flush.unwrap())(h), 1);
        assert_eq!((p.is_rotational.unwrap())(h), 0);
        assert_eq!((p.can_zero.unwrap())(h), 1);
        assert_eq!((p.can_fast_zero.unwrap())(h), 0);
        assert_eq!((p.can_fua.unwrap())(h), 2);
        assert_eq!((p.can_multi_conn.unwrap())(h), 1);
        assert_eq!((p.can_extents.unwrap())(h), 1);
        assert_eq!((p.can_cache.unwrap())(h), 1);
        assert_ok();
        assert_eq!((p.can_trim.unwrap())(h), -1);
        assert_failed(errno::EIO, "can_trim failed");

        assert_eq!(cstr((p.export_description.unwrap())(h)), "65536 bytes");
        let (mut min, mut pref, mut max) = (0u32, 0u32, 0u32);
        assert_eq!((p.block_size.unwrap())(h, &mut min, &mut pref, &mut max), 0);
        assert_eq!((min, pref, max), (512, 4096, 1 << 20));
        assert_ok();
    });

    // A size beyond i64::MAX cannot be sent.
    let p = plugin();
    let h = (p.open)(1);
    assert_eq!((p.can_write.unwrap())(h), 0);
    assert_eq!((p.get_size)(h), -1);
    assert_failed(errno::EFBIG, "too large");
    (p.close.unwrap())(h);
}

#[test]
fn data_round_trip_and_flags() {
    let _g = serial();
    with_conn(|p, h| {
        let data: Vec<u8> = (0..8192u32).map(|i| (i % 253) as u8).collect();
        let w = (p.pwrite.unwrap())(h, data.as_ptr() as *const c_char, 8192, 4096, 2);
        assert_eq!(w, 0);
        assert_eq!(LAST_FLAGS.load(Ordering::SeqCst), Flags::FUA.bits());

        let mut back = vec![0u8; 8192];
        assert_eq!(
            (p.pread)(h, back.as_mut_ptr() as *mut c_char, 8192, 4096, 0),
            0
        );
        assert_eq!(back, data);
        assert_eq!(LAST_FLAGS.load(Ordering::SeqCst), 0);

        assert_eq!((p.flush.unwrap())(h, 0), 0);
        assert_eq!(LAST_FLAGS.load(Ordering::SeqCst), 0x100);

        // zero with MAY_TRIM | FUA, then read back zeroes.
        assert_eq!((p.zero.unwrap())(h, 4096, 4096, 3), 0);
        assert_eq!(LAST_FLAGS.load(Ordering::SeqCst), 3);
        assert_eq!(
            (p.pread)(h, back.as_mut_ptr() as *mut c_char, 4096, 4096, 0),
            0
        );
        assert!(back[..4096].iter().all(|&b| b == 0));
        assert_eq!((p.trim.unwrap())(h, 4096, 8192, 0), 0);
        assert_ok();

        // Unknown flag bits reach the plugin untouched.
        assert_eq!((p.zero.unwrap())(h, 1, 0, 0x40), 0);
        assert_eq!(LAST_FLAGS.load(Ordering::SeqCst), 0x40);

        // Errors carry their errno.
        assert_eq!((p.zero.unwrap())(h, 4096, 0, Flags::FAST_ZERO.bits()), -1);
        assert_failed(errno::ENOTSUP, "not fast");
        let w = (p.pwrite.unwrap())(h, data.as_ptr() as *const c_char, 1, ENOSPC_OFFSET, 0);
        assert_eq!(w, -1);
        assert_failed(errno::ENOSPC, "disk full");
        assert_eq!((p.cache.unwrap())(h, 1, 0, 0), 0);
        assert_eq!((p.cache.unwrap())(h, 1, 1, 0), -1);
        assert_failed(errno::EINVAL, "odd offset");
    });
}

#[test]
fn panic_in_pread_is_an_eio_reply() {
    let _g = serial();
    with_conn(|p, h| {
        let mut buf = vec![0u8; 4096];
        let r = (p.pread)(
            h,
            buf.as_mut_ptr() as *mut c_char,
            4096,
            PANIC_OFFSET - 100,
            0,
        );
        assert_eq!(r, -1);
        assert_failed(
            errno::EIO,
            "pread: panic: read of 4096 bytes at 59900 panicked",
        );
        // The same connection keeps working.
        assert_eq!((p.pread)(h, buf.as_mut_ptr() as *mut c_char, 4096, 0, 0), 0);
        assert_ok();
    });
}

#[test]
fn extents_are_added_through_the_server() {
    let _g = serial();
    with_conn(|p, h| {
        let mut e = TestExtents {
            start: 5000,
            list: Vec::new(),
        };
        let ep = &mut e as *mut TestExtents as *mut Extents;
        assert_eq!((p.extents.unwrap())(h, 10000, 5000, 0, ep), 0);
        assert_eq!(
            e.list,
            vec![(4096, 4096, 3), (8192, 4096, 0), (12288, 4096, 3)]
        );

        let mut e = TestExtents {
            start: 0,
            list: Vec::new(),
        };
        let ep = &mut e as *mut TestExtents as *mut Extents;
        assert_eq!(
            (p.extents.unwrap())(h, 65536, 0, Flags::REQ_ONE.bits(), ep),
            0
        );
        assert_eq!(e.list, vec![(0, 4096, 0)]);
        assert_ok();

        // The first extent must reach the offset: the server rejects
        // the list, and the error (already logged by the server) is
        // passed on with the server's errno.
        let mut e = TestExtents {
            start: 0,
            list: vec![(0, 100, 0)],
        };
        let ep = &mut e as *mut TestExtents as *mut Extents;
        assert_eq!((p.extents.unwrap())(h, 4096, 4096, 0, ep), -1);
        assert_failed(errno::ERANGE, "ascending and contiguous");
    });
}

#[test]
fn handles_are_independent_objects() {
    let _g = serial();
    let p = plugin();
    let a = (p.open)(0);
    let b = (p.open)(0);
    let byte = [7u8];
    assert_eq!(
        (p.pwrite.unwrap())(a, byte.as_ptr() as *const c_char, 1, 0, 0),
        0
    );
    let mut out = [0u8];
    assert_eq!((p.pread)(b, out.as_mut_ptr() as *mut c_char, 1, 0, 0), 0);
    assert_eq!(out[0], 0);
    assert_eq!((p.pread)(a, out.as_mut_ptr() as *mut c_char, 1, 0, 0), 0);
    assert_eq!(out[0], 7);
    (p.close.unwrap())(a);
    (p.close.unwrap())(b);
}
