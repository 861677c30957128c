//! The safe wrappers of the server's functions, against the stubs.

mod common;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{serial, stubs};
use nbdkit::*;

#[test]
fn logging() {
    nbdkit::error!("cannot open {}: {}", "x.img", 2);
    nbdkit::debug!("size is {}", 42);
    error("plain");
    debug("plain debug");
    assert_eq!(stubs::take_errors(), ["cannot open x.img: 2", "plain"]);
    assert_eq!(stubs::take_debugs(), ["size is 42", "plain debug"]);
    // printf directives are not interpreted.
    nbdkit::error!("100%s done");
    assert_eq!(stubs::take_errors(), ["100%s done"]);
    set_error(errno::EROFS);
    assert_eq!(stubs::take_errno(), errno::EROFS);
}

#[test]
fn parse_size_and_bool() {
    assert_eq!(parse_size("4096").unwrap(), 4096);
    assert_eq!(parse_size("1M").unwrap(), 1 << 20);
    assert_eq!(parse_size("2s").unwrap(), 1024);
    let e = parse_size("1Q").unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    // The server logged its own message; reporting adds nothing.
    assert_eq!(stubs::take_errors().len(), 1);
    e.report();
    assert!(stubs::take_errors().is_empty());
    assert_eq!(stubs::take_errno(), errno::EINVAL);
    assert_eq!(parse_size("a\0b").unwrap_err().errno(), errno::EINVAL);

    assert!(parse_bool("on").unwrap());
    assert!(parse_bool("YES").unwrap());
    assert!(!parse_bool("0").unwrap());
    assert!(parse_bool("maybe").is_err());
    stubs::take_errors();
}

#[test]
fn parse_int_sizes() {
    assert_eq!(parse_int::<u8>("x", "255").unwrap(), 255);
    assert_eq!(parse_int::<i8>("x", "-128").unwrap(), -128);
    assert_eq!(parse_int::<u16>("port", "0x2a39").unwrap(), 10809);
    assert_eq!(parse_int::<i32>("x", "010").unwrap(), 8);
    assert_eq!(parse_int::<u32>("x", "4294967295").unwrap(), u32::MAX);
    assert_eq!(
        parse_int::<i64>("x", "-9223372036854775808").unwrap(),
        i64::MIN
    );
    assert_eq!(
        parse_int::<u64>("x", "18446744073709551615").unwrap(),
        u64::MAX
    );
    let e = parse_int::<u8>("x", "256").unwrap_err();
    assert_eq!(e.errno(), errno::ERANGE);
    let e = parse_int::<i16>("count", "ten").unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    let errors = stubs::take_errors();
    assert_eq!(errors.len(), 2);
    assert!(errors[1].starts_with("count:"), "{errors:?}");
}

#[test]
fn connection_information() {
    assert_eq!(export_name().unwrap(), "test-export");
    assert!(!is_tls().unwrap());
    assert_eq!(
        peer_name().unwrap(),
        PeerAddr::Inet("127.0.0.1:10809".parse().unwrap())
    );
    assert_eq!(peer_pid().unwrap(), 4242);
    assert_eq!(peer_uid().unwrap(), 1000);
    let e = peer_gid().unwrap_err();
    assert_eq!(e.errno(), errno::EOPNOTSUPP);
    assert_eq!(stubs::take_errors().len(), 1);
    assert!(stdio_safe());
}

#[test]
fn shutdown_disconnect_and_sleep() {
    let _g = serial();
    nanosleep(Duration::from_millis(1)).unwrap();
    disconnect(true);
    assert_eq!(stubs::DISCONNECT.load(Ordering::SeqCst), 1);
    disconnect(false);
    assert_eq!(stubs::DISCONNECT.load(Ordering::SeqCst), 0);
    shutdown();
    assert!(stubs::SHUTDOWN.load(Ordering::SeqCst));
    let e = nanosleep(Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.errno(), errno::ESHUTDOWN);
    stubs::SHUTDOWN.store(false, Ordering::SeqCst);
}

#[test]
fn paths_and_passwords() {
    let here = std::env::current_dir().unwrap().canonicalize().unwrap();
    assert_eq!(realpath(".").unwrap(), here);
    let e = realpath("/no/such/file").unwrap_err();
    assert_eq!(e.errno(), errno::ENOENT);
    assert_eq!(stubs::take_errors().len(), 1);
    let abs = absolute_path("disk.img").unwrap();
    assert_eq!(abs, std::env::current_dir().unwrap().join("disk.img"));
    assert!(abs.is_absolute());
    assert_eq!(
        absolute_path(PathBuf::from("/a/b")).unwrap(),
        PathBuf::from("/a/b")
    );

    assert_eq!(read_password("s3cret").unwrap(), "s3cret");
    assert!(read_password("+/no/such/file").is_err());
    stubs::take_errors();
}

#[test]
fn interned_strings() {
    let p = intern("hello").unwrap();
    assert_eq!(unsafe { c_str(p) }.unwrap(), "hello");
    assert_eq!(intern("a\0b").unwrap_err().errno(), errno::EINVAL);
    assert!(unsafe { c_str(std::ptr::null()) }.is_err());
}

#[test]
fn guard_turns_panics_into_errors() {
    assert_eq!(guard("x", || Ok(5)).unwrap(), 5);
    let e = guard::<(), _>("pread", || panic!("at {}", 7)).unwrap_err();
    assert_eq!(e.errno(), errno::EIO);
    assert_eq!(e.message(), "pread: panic: at 7");
    let e = guard::<(), _>("zero", || std::panic::panic_any(17u32)).unwrap_err();
    assert_eq!(e.message(), "zero: panic: (non-string panic payload)");
    let e = guard::<(), _>("trim", || Err(Error::new(errno::EROFS, "ro"))).unwrap_err();
    assert_eq!(e.errno(), errno::EROFS);
}

/// A panic payload whose Drop panics too.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload's drop panicked");
    }
}

/// guard drops the payload of the panic it caught; if that Drop panics
/// in turn, the second panic must not escape either (out of a C
/// callback it would abort the server, or be undefined behaviour on
/// Rust before 1.81).
#[test]
fn guard_contains_a_panicking_payload_drop() {
    let e = guard::<(), _>("pread", || std::panic::panic_any(Bomb)).unwrap_err();
    assert_eq!(e.errno(), errno::EIO);
    assert_eq!(e.message(), "pread: panic: (non-string panic payload)");
}
