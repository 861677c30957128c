//! Safe wrappers for the functions the server exports to plugins.

use std::ffi::{CStr, CString, OsStr};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::Duration;

use crate::error::{clear_errno, cstring, errno, raw_error, Error, Result};
use crate::ffi;

/// Writes an error message to the server's log (`nbdkit_error`).
/// Usually you return an [`Error`] instead, which does this for you.
pub fn error(msg: &str) {
    raw_error(msg)
}

/// Writes a debug message to the server's log (`nbdkit_debug`); shown
/// only when the server runs with `-v`.
pub fn debug(msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    unsafe { ffi::nbdkit_debug(b"%s\0".as_ptr() as *const c_char, c.as_ptr()) }
}

/// Sets the errno sent to the client when the current callback fails
/// (`nbdkit_set_error`).  Usually you return an [`Error`] instead,
/// which does this for you.
pub fn set_error(errno: i32) {
    unsafe { ffi::nbdkit_set_error(errno) }
}

/// Parses a size with an optional unit (`100M`, `1G`, `512b`, `4s` for
/// 4 sectors, ...), as the server does for its own options
/// (`nbdkit_parse_size`).
pub fn parse_size(s: &str) -> Result<u64> {
    let c = cstring(s)?;
    let r = unsafe { ffi::nbdkit_parse_size(c.as_ptr()) };
    if r < 0 {
        Err(Error::logged(
            errno::EINVAL,
            format!("could not parse size: {s}"),
        ))
    } else {
        Ok(r as u64)
    }
}

/// Parses a boolean: `1`, `true`, `t`, `yes`, `y`, `on` and their
/// opposites, in any case (`nbdkit_parse_bool`).
pub fn parse_bool(s: &str) -> Result<bool> {
    let c = cstring(s)?;
    match unsafe { ffi::nbdkit_parse_bool(c.as_ptr()) } {
        -1 => Err(Error::logged(
            errno::EINVAL,
            format!("could not parse boolean: {s}"),
        )),
        0 => Ok(false),
        _ => Ok(true),
    }
}

mod sealed {
    pub trait Sealed {}
}

/// The integer types [`parse_int`] can produce.  Sealed: implemented
/// for `i8`, `u8`, `i16`, `u16`, `i32`, `u32`, `i64` and `u64`.
pub trait ParseInt: sealed::Sealed + Copy + Default {
    #[doc(hidden)]
    unsafe fn parse_c(what: *const c_char, s: *const c_char, r: *mut Self) -> c_int;
}

macro_rules! parse_int_impl {
    ($t:ty, $f:ident) => {
        impl sealed::Sealed for $t {}
        impl ParseInt for $t {
            unsafe fn parse_c(what: *const c_char, s: *const c_char, r: *mut $t) -> c_int {
                ffi::$f(what, s, r)
            }
        }
    };
}

parse_int_impl!(i8, nbdkit_parse_int8_t);
parse_int_impl!(u8, nbdkit_parse_uint8_t);
parse_int_impl!(i16, nbdkit_parse_int16_t);
parse_int_impl!(u16, nbdkit_parse_uint16_t);
parse_int_impl!(i32, nbdkit_parse_int32_t);
parse_int_impl!(u32, nbdkit_parse_uint32_t);
parse_int_impl!(i64, nbdkit_parse_int64_t);
parse_int_impl!(u64, nbdkit_parse_uint64_t);

/// Parses an integer in decimal, hex (`0x`) or octal (leading `0`) and
/// checks it fits `T` (`nbdkit_parse_int8_t` ... `_uint64_t`).  `what`
/// names the value in the error message.
///
/// ```no_run
/// let port: u16 = nbdkit::parse_int("port", "10809").unwrap();
/// ```
pub fn parse_int<T: ParseInt>(what: &str, s: &str) -> Result<T> {
    let w = cstring(what)?;
    let c = cstring(s)?;
    let mut r = T::default();
    clear_errno();
    if unsafe { T::parse_c(w.as_ptr(), c.as_ptr(), &mut r) } == -1 {
        Err(Error::from_server(
            errno::EINVAL,
            format_args!("{what}: could not parse number: {s}"),
        ))
    } else {
        Ok(r)
    }
}

/// The export name the client asked for (`nbdkit_export_name`).  Only
/// meaningful in connection callbacks.
pub fn export_name() -> Result<String> {
    let p = unsafe { ffi::nbdkit_export_name() };
    if p.is_null() {
        return Err(Error::logged(
            errno::EINVAL,
            "no export name (not in a connection)",
        ));
    }
    Ok(unsafe { CStr::from_ptr(p) }.to_str()?.to_owned())
}

/// True if the connection uses TLS (`nbdkit_is_tls`).
pub fn is_tls() -> Result<bool> {
    match unsafe { ffi::nbdkit_is_tls() } {
        -1 => Err(Error::logged(errno::EINVAL, "nbdkit_is_tls failed")),
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// True if the plugin may use stdin and stdout, i.e. the server is not
/// serving a client over them (`nbdkit_stdio_safe`).
pub fn stdio_safe() -> bool {
    unsafe { ffi::nbdkit_stdio_safe() != 0 }
}

/// The address of the client, as returned by [`peer_name`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddr {
    /// TCP over IPv4 or IPv6.
    Inet(SocketAddr),
    /// A Unix domain socket: its path if it has one (abstract socket
    /// names start with a NUL byte).
    Unix(Option<PathBuf>),
    /// AF_VSOCK.
    Vsock {
        /// Context id.
        cid: u32,
        /// Port.
        port: u32,
    },
    /// Another address family, with this family number.
    Other(u16),
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const AF_VSOCK: u16 = 40;

#[repr(C, align(8))]
struct SockaddrStorage([u8; 128]);

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn ne32(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes a `struct sockaddr` of `len` bytes (Linux layout).
pub(crate) fn decode_sockaddr(a: &[u8]) -> Result<PeerAddr> {
    let bad = || Error::new(errno::EINVAL, "peer address is truncated");
    if a.len() < 2 {
        return Err(bad());
    }
    let family = u16::from_ne_bytes([a[0], a[1]]);
    match family {
        AF_INET => {
            if a.len() < 8 {
                return Err(bad());
            }
            let ip = Ipv4Addr::new(a[4], a[5], a[6], a[7]);
            Ok(PeerAddr::Inet(SocketAddr::V4(SocketAddrV4::new(
                ip,
                be16(&a[2..]),
            ))))
        }
        AF_INET6 => {
            if a.len() < 28 {
                return Err(bad());
            }
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&a[8..24]);
            let flow = u32::from_be_bytes([a[4], a[5], a[6], a[7]]);
            let v6 = SocketAddrV6::new(Ipv6Addr::from(ip), be16(&a[2..]), flow, ne32(&a[24..]));
            Ok(PeerAddr::Inet(SocketAddr::V6(v6)))
        }
        AF_UNIX => {
            let path = &a[2..];
            if path.is_empty() {
                return Ok(PeerAddr::Unix(None));
            }
            // A pathname ends at the first NUL; an abstract name starts
            // with one and takes the whole length.
            let path = if path[0] == 0 {
                path
            } else {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                &path[..end]
            };
            Ok(PeerAddr::Unix(Some(PathBuf::from(OsStr::from_bytes(path)))))
        }
        AF_VSOCK => {
            if a.len() < 12 {
                return Err(bad());
            }
            Ok(PeerAddr::Vsock {
                port: ne32(&a[4..]),
                cid: ne32(&a[8..]),
            })
        }
        f => Ok(PeerAddr::Other(f)),
    }
}

/// The address of the client of the current connection
/// (`nbdkit_peer_name`).
pub fn peer_name() -> Result<PeerAddr> {
    let mut ss = SockaddrStorage([0; 128]);
    let mut len: ffi::socklen_t = 128;
    clear_errno();
    let r = unsafe { ffi::nbdkit_peer_name(ss.0.as_mut_ptr() as *mut c_void, &mut len) };
    if r == -1 {
        return Err(Error::from_server(errno::EINVAL, "nbdkit_peer_name failed"));
    }
    let len = (len as usize).min(ss.0.len());
    decode_sockaddr(&ss.0[..len])
}

fn peer_id(r: i64, what: &str) -> Result<u32> {
    if r < 0 {
        Err(Error::from_server(
            errno::EINVAL,
            format_args!("could not get peer {what}"),
        ))
    } else {
        u32::try_from(r).map_err(Error::from)
    }
}

/// The process id of the client; Unix domain sockets only
/// (`nbdkit_peer_pid`).
pub fn peer_pid() -> Result<u32> {
    clear_errno();
    peer_id(unsafe { ffi::nbdkit_peer_pid() }, "pid")
}

/// The user id of the client; Unix domain sockets only
/// (`nbdkit_peer_uid`).
pub fn peer_uid() -> Result<u32> {
    clear_errno();
    peer_id(unsafe { ffi::nbdkit_peer_uid() }, "uid")
}

/// The group id of the client; Unix domain sockets only
/// (`nbdkit_peer_gid`).
pub fn peer_gid() -> Result<u32> {
    clear_errno();
    peer_id(unsafe { ffi::nbdkit_peer_gid() }, "gid")
}

/// Asks the server to exit once current requests are done
/// (`nbdkit_shutdown`).
pub fn shutdown() {
    unsafe { ffi::nbdkit_shutdown() }
}

/// Drops the current client (`nbdkit_disconnect`): at once if `force`,
/// else after failing further requests with `ESHUTDOWN`.  Needs a
/// server of version 1.34 or later: a plugin that calls it will not
/// load into an older one.
pub fn disconnect(force: bool) {
    unsafe { ffi::nbdkit_disconnect(force as c_int) }
}

/// Sleeps, waking up early if the server is shutting down or the client
/// went away (`nbdkit_nanosleep`); that case is an `ESHUTDOWN` error.
pub fn nanosleep(d: Duration) -> Result<()> {
    let secs = d.as_secs().min(c_uint::MAX as u64) as c_uint;
    clear_errno();
    if unsafe { ffi::nbdkit_nanosleep(secs, d.subsec_nanos()) } == -1 {
        Err(Error::from_server(errno::ESHUTDOWN, "sleep interrupted"))
    } else {
        Ok(())
    }
}

/// Takes ownership of a malloc'd C string from the server.
unsafe fn take_c_string(p: *mut c_char) -> Vec<u8> {
    let v = CStr::from_ptr(p).to_bytes().to_vec();
    ffi::free(p as *mut c_void);
    v
}

fn path_cstring(path: &Path) -> Result<CString> {
    Ok(CString::new(path.as_os_str().as_bytes())?)
}

fn server_path(path: &Path, what: &str, p: *mut c_char) -> Result<PathBuf> {
    if p.is_null() {
        return Err(Error::from_server(
            errno::ENOENT,
            format_args!("{what}: {}", path.display()),
        ));
    }
    let v = unsafe { take_c_string(p) };
    Ok(PathBuf::from(OsStr::from_bytes(&v)))
}

/// The canonical absolute path of an existing file, resolving symlinks
/// (`nbdkit_realpath`).  Call it while configuring: the server may
/// change directory when it becomes a daemon.
pub fn realpath<P: AsRef<Path>>(path: P) -> Result<PathBuf> {
    let path = path.as_ref();
    let c = path_cstring(path)?;
    clear_errno();
    server_path(path, "realpath", unsafe {
        ffi::nbdkit_realpath(c.as_ptr())
    })
}

/// `path` made absolute relative to the current directory, without
/// touching the file system (`nbdkit_absolute_path`).  Call it while
/// configuring.
pub fn absolute_path<P: AsRef<Path>>(path: P) -> Result<PathBuf> {
    let path = path.as_ref();
    let c = path_cstring(path)?;
    clear_errno();
    server_path(path, "absolute_path", unsafe {
        ffi::nbdkit_absolute_path(c.as_ptr())
    })
}

/// Reads a password given as a parameter value (`nbdkit_read_password`):
/// the literal value, `-` to prompt on the terminal, `+FILE` to read
/// it from a file, or `-FD` to read it from a file descriptor.
pub fn read_password(value: &str) -> Result<String> {
    let c = cstring(value)?;
    let mut p: *mut c_char = ptr::null_mut();
    clear_errno();
    if unsafe { ffi::nbdkit_read_password(c.as_ptr(), &mut p) } == -1 || p.is_null() {
        let e = Error::from_server(errno::EINVAL, "could not read password");
        if !p.is_null() {
            unsafe { ffi::free(p as *mut c_void) };
        }
        return Err(e);
    }
    // Copy it out and wipe the server's buffer before freeing it.
    let bytes = unsafe {
        let len = CStr::from_ptr(p).to_bytes().len();
        let v = std::slice::from_raw_parts(p as *const u8, len).to_vec();
        ptr::write_bytes(p, 0, len);
        ffi::free(p as *mut c_void);
        v
    };
    String::from_utf8(bytes).map_err(|_| Error::new(errno::EINVAL, "password is not UTF-8"))
}

/// Copies `s` into storage the server frees when the current connection
/// closes, or when the plugin is unloaded if called outside a
/// connection (`nbdkit_strdup_intern`).  Raw `default_export` and
/// `export_description` callbacks use this for their return value.
pub fn intern(s: &str) -> Result<*const c_char> {
    let c = cstring(s)?;
    clear_errno();
    let p = unsafe { ffi::nbdkit_strdup_intern(c.as_ptr()) };
    if p.is_null() {
        Err(Error::from_server(
            errno::ENOMEM,
            "nbdkit_strdup_intern failed",
        ))
    } else {
        Ok(p)
    }
}

/// A C string argument as `&str`, or `EINVAL` if it is not UTF-8.
///
/// # Safety
/// `p` must be a valid NUL-terminated string that outlives `'a`.
pub unsafe fn c_str<'a>(p: *const c_char) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::new(errno::EINVAL, "unexpected NULL string"));
    }
    Ok(CStr::from_ptr(p).to_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_in() {
        let mut a = [0u8; 16];
        a[..2].copy_from_slice(&AF_INET.to_ne_bytes());
        a[2..4].copy_from_slice(&10809u16.to_be_bytes());
        a[4..8].copy_from_slice(&[192, 168, 0, 1]);
        assert_eq!(
            decode_sockaddr(&a).unwrap(),
            PeerAddr::Inet("192.168.0.1:10809".parse().unwrap())
        );
        assert!(decode_sockaddr(&a[..6]).is_err());
    }

    #[test]
    fn sockaddr_in6() {
        let mut a = [0u8; 28];
        a[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
        a[2..4].copy_from_slice(&443u16.to_be_bytes());
        a[23] = 1; // ::1
        a[24..28].copy_from_slice(&3u32.to_ne_bytes());
        match decode_sockaddr(&a).unwrap() {
            PeerAddr::Inet(SocketAddr::V6(v6)) => {
                assert_eq!(*v6.ip(), Ipv6Addr::LOCALHOST);
                assert_eq!(v6.port(), 443);
                assert_eq!(v6.scope_id(), 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sockaddr_un_and_vsock() {
        let mut a = Vec::new();
        a.extend_from_slice(&AF_UNIX.to_ne_bytes());
        a.extend_from_slice(b"/tmp/sock\0garbage");
        assert_eq!(
            decode_sockaddr(&a).unwrap(),
            PeerAddr::Unix(Some(PathBuf::from("/tmp/sock")))
        );
        assert_eq!(decode_sockaddr(&a[..2]).unwrap(), PeerAddr::Unix(None));
        let mut abs = AF_UNIX.to_ne_bytes().to_vec();
        abs.extend_from_slice(b"\0hidden");
        match decode_sockaddr(&abs).unwrap() {
            PeerAddr::Unix(Some(p)) => assert_eq!(p.as_os_str().as_bytes(), b"\0hidden"),
            other => panic!("{other:?}"),
        }

        let mut v = [0u8; 16];
        v[..2].copy_from_slice(&AF_VSOCK.to_ne_bytes());
        v[4..8].copy_from_slice(&10809u32.to_ne_bytes());
        v[8..12].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(
            decode_sockaddr(&v).unwrap(),
            PeerAddr::Vsock {
                cid: 2,
                port: 10809
            }
        );

        assert_eq!(
            decode_sockaddr(&[17, 0, 0, 0]).unwrap(),
            PeerAddr::Other(17)
        );
        assert!(decode_sockaddr(&[1]).is_err());
    }
}
