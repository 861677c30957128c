//! A safe plugin that names no optional callbacks: only the four
//! required ones (and close, which drops the handle) are set, so the
//! server applies its own defaults for everything else.

mod common;

use std::os::raw::c_char;

use common::stubs;
use nbdkit::*;

/// A zero-sized connection object still gets a non-NULL handle.
struct Zeroes;

impl Server for Zeroes {
    fn name() -> &'static str {
        "zeroes"
    }
    fn open(_readonly: bool) -> Result<Zeroes> {
        Ok(Zeroes)
    }
    fn get_size(&self) -> Result<u64> {
        Ok(1 << 30)
    }
    fn read_at(&self, buf: &mut [u8], _offset: u64, _flags: Flags) -> Result<()> {
        buf.fill(0);
        Ok(())
    }
    // Implemented but not named in plugin!: never called.
    fn write_at(&self, _buf: &[u8], _offset: u64, _flags: Flags) -> Result<()> {
        unreachable!()
    }
}

plugin!(Zeroes);

#[test]
fn only_required_fields_are_set() {
    let p = unsafe { &*plugin_init() };
    assert!(p.close.is_some());
    assert!(p.pwrite.is_none() && p.flush.is_none() && p.trim.is_none());
    assert!(p.zero.is_none() && p.extents.is_none() && p.cache.is_none());
    assert!(p.config.is_none() && p.thread_model.is_none() && p.block_size.is_none());
    assert!(p.can_write.is_none() && p.can_fua.is_none() && p.can_cache.is_none());
    assert!(p.list_exports.is_none() && p.default_export.is_none());
    assert!(p.export_description.is_none() && p.preconnect.is_none());
    assert!(p.load.is_none() && p.unload.is_none() && p.get_ready.is_none());
    assert!(p.after_fork.is_none() && p.cleanup.is_none() && p.dump_plugin.is_none());
    assert!(p.longname.is_null() && p.version.is_null() && p.description.is_null());
    assert!(p.config_help.is_null() && p.magic_config_key.is_null());

    let h = (p.open)(1);
    assert!(!h.is_null());
    assert_eq!((p.get_size)(h), 1 << 30);
    let mut buf = [1u8; 16];
    assert_eq!((p.pread)(h, buf.as_mut_ptr() as *mut c_char, 16, 0, 0), 0);
    assert_eq!(buf, [0u8; 16]);
    (p.close.unwrap())(h);
    assert!(stubs::take_errors().is_empty());
}
