//! [`Error`]: a message for the server's log plus the errno the client
//! is sent.

use std::error;
use std::ffi::{CString, NulError};
use std::fmt;
use std::io;
use std::num::{ParseIntError, TryFromIntError};
use std::os::raw::c_char;
use std::str::Utf8Error;

use crate::ffi;

/// Linux errno values, for [`Error::new`] and [`set_error`](crate::set_error).
///
/// The NBD protocol has its own small set of error codes; the server
/// maps errno values to them: `EPERM` and `EROFS` become `EPERM`;
/// `EIO`, `ENOMEM` and `ESHUTDOWN` stay as they are; `ENOSPC`, `EFBIG`
/// and `EDQUOT` become `ENOSPC`; `ENOTSUP` is sent only in answer to a
/// fast-zero request and `EOVERFLOW` only to a "don't fragment" read;
/// everything else becomes `EINVAL`.
pub mod errno {
    #![allow(missing_docs)]

    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EINTR: i32 = 4;
    pub const EIO: i32 = 5;
    pub const ENXIO: i32 = 6;
    pub const E2BIG: i32 = 7;
    pub const EBADF: i32 = 9;
    pub const EAGAIN: i32 = 11;
    pub const EWOULDBLOCK: i32 = EAGAIN;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const EXDEV: i32 = 18;
    pub const ENODEV: i32 = 19;
    pub const ENOTDIR: i32 = 20;
    pub const EISDIR: i32 = 21;
    pub const EINVAL: i32 = 22;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOTTY: i32 = 25;
    pub const EFBIG: i32 = 27;
    pub const ENOSPC: i32 = 28;
    pub const ESPIPE: i32 = 29;
    pub const EROFS: i32 = 30;
    pub const EPIPE: i32 = 32;
    pub const ERANGE: i32 = 34;
    pub const ENAMETOOLONG: i32 = 36;
    pub const ENOSYS: i32 = 38;
    pub const ENOTEMPTY: i32 = 39;
    pub const ELOOP: i32 = 40;
    pub const ENODATA: i32 = 61;
    pub const EOVERFLOW: i32 = 75;
    pub const EILSEQ: i32 = 84;
    pub const EOPNOTSUPP: i32 = 95;
    pub const ENOTSUP: i32 = EOPNOTSUPP;
    pub const EADDRINUSE: i32 = 98;
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const ENETUNREACH: i32 = 101;
    pub const ECONNABORTED: i32 = 103;
    pub const ECONNRESET: i32 = 104;
    pub const ENOBUFS: i32 = 105;
    pub const ENOTCONN: i32 = 107;
    pub const ESHUTDOWN: i32 = 108;
    pub const ETIMEDOUT: i32 = 110;
    pub const ECONNREFUSED: i32 = 111;
    pub const EHOSTUNREACH: i32 = 113;
    pub const EDQUOT: i32 = 122;
    pub const ECANCELED: i32 = 125;
}

use errno::*;

/// The error type of every fallible function in this crate and of the
/// [`Server`](crate::Server) callbacks.
///
/// It holds a message, which goes to the server's log (through
/// `nbdkit_error`), and an errno, which becomes the NBD error the
/// client sees (through `nbdkit_set_error`).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    errno: i32,
    msg: String,
    // The server already logged this one (it came from a server
    // function that calls nbdkit_error itself).
    logged: bool,
}

/// `Result` with [`Error`] as the default error type.  The second
/// parameter keeps `Result<T, E>` working in code that does
/// `use nbdkit::*`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with this errno and message.
    ///
    /// ```
    /// use nbdkit::{Error, errno::ENOSPC};
    /// let e = Error::new(ENOSPC, "disk full");
    /// assert_eq!(e.errno(), ENOSPC);
    /// assert_eq!(e.to_string(), "disk full");
    /// ```
    pub fn new(errno: i32, msg: impl fmt::Display) -> Error {
        Error {
            errno,
            msg: msg.to_string(),
            logged: false,
        }
    }

    /// An error with this errno and the C library's text for it.
    pub fn from_errno(errno: i32) -> Error {
        Error::new(errno, io::Error::from_raw_os_error(errno))
    }

    /// An error the server has already written to its log.
    pub(crate) fn logged(errno: i32, msg: impl fmt::Display) -> Error {
        Error {
            errno,
            msg: msg.to_string(),
            logged: true,
        }
    }

    /// An already-logged error whose errno is the C `errno` left by the
    /// server function that failed (or `default` if that is 0).  Call
    /// [`clear_errno`] before the server function.
    pub(crate) fn from_server(default: i32, msg: impl fmt::Display) -> Error {
        let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        Error::logged(if e > 0 { e } else { default }, msg)
    }

    /// The errno the client will be sent.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The log message.
    pub fn message(&self) -> &str {
        &self.msg
    }

    /// Returns the same error with a different errno.
    pub fn with_errno(mut self, errno: i32) -> Error {
        self.errno = errno;
        self
    }

    /// Logs the message with `nbdkit_error` (unless the server already
    /// did) and sets the errno for the reply with `nbdkit_set_error`.
    ///
    /// The [`Server`](crate::Server) glue calls this for you; raw-API
    /// callbacks call it before returning `-1`.
    pub fn report(&self) {
        if !self.logged {
            crate::functions::error(&self.msg);
        }
        crate::functions::set_error(self.errno);
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Error {{ errno: {}, msg: {:?} }}", self.errno, self.msg)
    }
}

impl error::Error for Error {}

/// The errno for an I/O error: its OS error code if it has one, else a
/// best match for its kind, else `EIO`.
pub fn io_errno(e: &io::Error) -> i32 {
    if let Some(n) = e.raw_os_error() {
        return n;
    }
    use io::ErrorKind::*;
    match e.kind() {
        NotFound => ENOENT,
        PermissionDenied => EPERM,
        ConnectionRefused => ECONNREFUSED,
        ConnectionReset => ECONNRESET,
        ConnectionAborted => ECONNABORTED,
        NotConnected => ENOTCONN,
        AddrInUse => EADDRINUSE,
        AddrNotAvailable => EADDRNOTAVAIL,
        BrokenPipe => EPIPE,
        AlreadyExists => EEXIST,
        WouldBlock => EAGAIN,
        InvalidInput | InvalidData => EINVAL,
        TimedOut => ETIMEDOUT,
        Interrupted => EINTR,
        Unsupported => EOPNOTSUPP,
        OutOfMemory => ENOMEM,
        _ => EIO,
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::new(io_errno(&e), e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(io::Error::from_raw_os_error(e.errno).kind(), e.msg)
    }
}

// std::ffi::NulError exists since 1.0; clippy confuses it with the
// alloc::ffi re-export.
#[allow(clippy::incompatible_msrv)]
impl From<NulError> for Error {
    fn from(e: NulError) -> Error {
        Error::new(EINVAL, format!("string contains a NUL byte: {e}"))
    }
}

impl From<Utf8Error> for Error {
    fn from(e: Utf8Error) -> Error {
        Error::new(EINVAL, format!("string is not UTF-8: {e}"))
    }
}

impl From<ParseIntError> for Error {
    fn from(e: ParseIntError) -> Error {
        Error::new(EINVAL, e)
    }
}

impl From<TryFromIntError> for Error {
    fn from(e: TryFromIntError) -> Error {
        Error::new(ERANGE, e)
    }
}

/// Sets the C `errno` to 0, so that [`Error::from_server`] can tell
/// whether the server function that is about to be called set it.
pub(crate) fn clear_errno() {
    unsafe { *ffi::__errno_location() = 0 }
}

/// `s` as a C string, or an `EINVAL` error if it contains NUL.
pub(crate) fn cstring(s: &str) -> Result<CString> {
    Ok(CString::new(s)?)
}

/// Calls `nbdkit_error("%s", msg)`.
pub(crate) fn raw_error(msg: &str) {
    // An interior NUL would truncate the message; replace it.
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    unsafe { ffi::nbdkit_error(b"%s\0".as_ptr() as *const c_char, c.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_or_map_their_errno() {
        let e: Error = io::Error::from_raw_os_error(ENOSPC).into();
        assert_eq!(e.errno(), ENOSPC);
        let cases = [
            (io::ErrorKind::NotFound, ENOENT),
            (io::ErrorKind::PermissionDenied, EPERM),
            (io::ErrorKind::InvalidInput, EINVAL),
            (io::ErrorKind::InvalidData, EINVAL),
            (io::ErrorKind::Unsupported, EOPNOTSUPP),
            (io::ErrorKind::OutOfMemory, ENOMEM),
            (io::ErrorKind::TimedOut, ETIMEDOUT),
            (io::ErrorKind::UnexpectedEof, EIO),
            (io::ErrorKind::Other, EIO),
        ];
        for (kind, want) in cases {
            let e: Error = io::Error::new(kind, "x").into();
            assert_eq!(e.errno(), want, "{kind:?}");
            assert_eq!(e.message(), "x");
        }
    }

    #[test]
    fn errno_values_are_linux() {
        // The values the NBD protocol shares with Linux.
        assert_eq!((EPERM, EIO, ENOMEM, EINVAL, ENOSPC), (1, 5, 12, 22, 28));
        assert_eq!((EOVERFLOW, ENOTSUP, ESHUTDOWN), (75, 95, 108));
        for n in [
            EPERM, ENOENT, EIO, ENOMEM, EINVAL, ENOSPC, EROFS, ENOTSUP, ESHUTDOWN,
        ] {
            // std agrees about what they mean.
            let s = io::Error::from_raw_os_error(n).to_string();
            assert!(s.contains(&format!("os error {n}")), "{s}");
        }
        assert_eq!(
            io::Error::from_raw_os_error(ENOENT).kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            io::Error::from_raw_os_error(EPERM).kind(),
            io::ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn conversions() {
        let e: Error = "12x".parse::<u32>().unwrap_err().into();
        assert_eq!(e.errno(), EINVAL);
        let e: Error = u8::try_from(300u32).unwrap_err().into();
        assert_eq!(e.errno(), ERANGE);
        let e: Error = CString::new("a\0b").unwrap_err().into();
        assert_eq!(e.errno(), EINVAL);
        let bad = vec![0xffu8];
        let e: Error = std::str::from_utf8(&bad).unwrap_err().into();
        assert_eq!(e.errno(), EINVAL);
        let e = Error::from_errno(EROFS);
        assert_eq!(e.errno(), EROFS);
        assert!(e.message().contains("Read-only"), "{}", e.message());
        let e = Error::new(EIO, "boom").with_errno(ENOSPC);
        assert_eq!((e.errno(), e.to_string()), (ENOSPC, "boom".to_owned()));
        assert_eq!(format!("{e:?}"), "Error { errno: 28, msg: \"boom\" }");
        let io: io::Error = e.into();
        assert_eq!(io.to_string(), "boom");
    }

    #[test]
    fn report_logs_and_sets_errno() {
        let _ = crate::stubs::take_errors();
        Error::new(ENOSPC, "full").report();
        assert_eq!(crate::stubs::take_errors(), vec!["full".to_owned()]);
        assert_eq!(crate::stubs::take_errno(), ENOSPC);
        // The server already logged this kind: only the errno is set.
        Error::logged(EINVAL, "bad size").report();
        assert!(crate::stubs::take_errors().is_empty());
        assert_eq!(crate::stubs::take_errno(), EINVAL);
        // NULs cannot cut the message short.
        Error::new(EIO, "a\0b").report();
        assert_eq!(crate::stubs::take_errors(), vec!["a\\0b".to_owned()]);
    }
}
