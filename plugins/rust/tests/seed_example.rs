//! The plugin_init of nbdkit-rust-plugin(3), character for character,
//! must compile against this crate and produce a working plugin.

// The manual writes `extern fn` (meaning `extern "C" fn`).
#![allow(missing_abi)]

extern crate nbdkit;
use nbdkit::*;
#[rustfmt::skip]
use nbdkit::ThreadModel::*;

#[rustfmt::skip]
#[no_mangle]
extern fn myplugin_thread_model () -> ThreadModel { SerializeAllRequests }

// The rest of the plugin, in the same style.
#[rustfmt::skip]
extern fn myplugin_open (readonly: c_int) -> *mut c_void {
    Box::into_raw (Box::new (readonly)) as *mut c_void
}
#[rustfmt::skip]
extern fn myplugin_close (h: *mut c_void) {
    unsafe { drop (Box::from_raw (h as *mut c_int)) }
}
#[rustfmt::skip]
extern fn myplugin_get_size (_h: *mut c_void) -> i64 { 1024 }
#[rustfmt::skip]
extern fn myplugin_pread (_h: *mut c_void, buf: *mut c_char, count: u32,
                          offset: u64, _flags: u32) -> c_int {
    for i in 0..count as usize {
        unsafe { *buf.add (i) = ((offset as usize + i) % 251) as c_char }
    }
    0
}
#[rustfmt::skip]
extern fn myplugin_pwrite (_h: *mut c_void, _buf: *const c_char, _count: u32,
                           _offset: u64, _flags: u32) -> c_int { 0 }

#[rustfmt::skip]
#[no_mangle]
pub extern fn plugin_init () -> *const Plugin {
    let name = "myplugin\0" as *const str as *const [c_char] as *const c_char;
    let mut plugin = Plugin::new (name, myplugin_open, myplugin_get_size, myplugin_pread);
    plugin.close = Some (myplugin_close);
    plugin.pwrite = Some (myplugin_pwrite);
    plugin.thread_model = Some (myplugin_thread_model);
    Box::into_raw(Box::new(plugin))
}

#[rustfmt::skip]
#[test]
fn seed_plugin_init_works() {
    let p = plugin_init ();
    assert!(!p.is_null ());
    let p = unsafe { &*p };
    assert_eq!(p.struct_size (), std::mem::size_of::<Plugin> () as u64);
    assert_eq!(p.api_version (), 2);
    assert_eq!(p.max_thread_model (), Parallel);
    let name = unsafe { std::ffi::CStr::from_ptr (p.name) };
    assert_eq!(name.to_str ().unwrap (), "myplugin");
    assert_eq!((p.thread_model.unwrap ()) (), SerializeAllRequests);
    assert!(p.flush.is_none () && p.extents.is_none () && p.config.is_none ());

    let h = (p.open) (1);
    assert_eq!(unsafe { *(h as *const c_int) }, 1);
    assert_eq!((p.get_size) (h), 1024);
    let mut buf = [0 as c_char; 8];
    assert_eq!((p.pread) (h, buf.as_mut_ptr (), 8, 250, 0), 0);
    assert_eq!(buf[0] as u8, 250);
    assert_eq!(buf[1] as u8, 0);
    assert_eq!((p.pwrite.unwrap ()) (h, buf.as_ptr (), 8, 0, 0), 0);
    (p.close.unwrap ()) (h);
}
