//! Small types shared by the raw and the safe API.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{BitAnd, BitOr, BitOrAssign, Sub};
use std::os::raw::c_int;
use std::ptr;

use crate::error::{clear_errno, cstring, errno, Error, Result};
use crate::ffi;

/// Flags of a data request (`NBDKIT_FLAG_*`).
///
/// ```
/// use nbdkit::Flags;
/// let f = Flags::FUA | Flags::MAY_TRIM;
/// assert!(f.contains(Flags::FUA));
/// assert!(!f.contains(Flags::FAST_ZERO));
/// assert_eq!(f.bits(), 3);
/// assert_eq!(format!("{:?}", f), "Flags(MAY_TRIM | FUA)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u32);

impl Flags {
    /// `zero`: the client allows the range to become a hole.
    pub const MAY_TRIM: Flags = Flags(ffi::NBDKIT_FLAG_MAY_TRIM);
    /// `write_at`, `trim`, `zero`: make the data durable before replying.
    pub const FUA: Flags = Flags(ffi::NBDKIT_FLAG_FUA);
    /// `extents`: the client needs only the first extent.
    pub const REQ_ONE: Flags = Flags(ffi::NBDKIT_FLAG_REQ_ONE);
    /// `zero`: fail with `ENOTSUP` at once unless zeroing is fast.
    pub const FAST_ZERO: Flags = Flags(ffi::NBDKIT_FLAG_FAST_ZERO);

    const NAMES: [(Flags, &'static str); 4] = [
        (Flags::MAY_TRIM, "MAY_TRIM"),
        (Flags::FUA, "FUA"),
        (Flags::REQ_ONE, "REQ_ONE"),
        (Flags::FAST_ZERO, "FAST_ZERO"),
    ];

    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// All flags this crate knows about.
    pub const fn all() -> Flags {
        Flags(0xf)
    }

    /// The C bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Flags from C bits, keeping bits this crate does not know.
    pub const fn from_bits_retain(bits: u32) -> Flags {
        Flags(bits)
    }

    /// Flags from C bits, dropping bits this crate does not know.
    pub const fn from_bits_truncate(bits: u32) -> Flags {
        Flags(bits & Flags::all().0)
    }

    /// True if every flag in `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any flag in `other` is set.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// True if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Flags {
    type Output = Flags;
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

impl Sub for Flags {
    type Output = Flags;
    fn sub(self, rhs: Flags) -> Flags {
        Flags(self.0 & !rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Flags(")?;
        let mut first = true;
        let mut rest = self.0;
        for (flag, name) in Flags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !flag.0;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{rest:#x}")?;
        } else if first {
            f.write_str("empty")?;
        }
        f.write_str(")")
    }
}

/// How the plugin handles FUA (the answer of `can_fua`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FuaMode {
    /// FUA is not advertised to clients.
    None = ffi::NBDKIT_FUA_NONE,
    /// The server emulates FUA by calling `flush` after the write.
    Emulate = ffi::NBDKIT_FUA_EMULATE,
    /// The plugin honours [`Flags::FUA`] itself.
    Native = ffi::NBDKIT_FUA_NATIVE,
}

/// How the plugin handles cache requests (the answer of `can_cache`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheMode {
    /// Cache requests are not advertised.
    None = ffi::NBDKIT_CACHE_NONE,
    /// The server emulates them by reading and discarding the data.
    Emulate = ffi::NBDKIT_CACHE_EMULATE,
    /// The plugin's `cache` callback is called.
    Native = ffi::NBDKIT_CACHE_NATIVE,
}

/// The state of an extent, for [`Extents::add`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtentType {
    /// Allocated data.
    Allocated = 0,
    /// Not allocated, but reads may return non-zero data.
    Hole = ffi::NBDKIT_EXTENT_HOLE,
    /// Allocated, and reads as zeroes.
    Zero = ffi::NBDKIT_EXTENT_ZERO,
    /// Not allocated and reads as zeroes (a sparse hole).
    HoleZero = ffi::NBDKIT_EXTENT_HOLE | ffi::NBDKIT_EXTENT_ZERO,
}

impl ExtentType {
    /// The type with these `NBDKIT_EXTENT_*` bits (unknown bits ignored).
    pub fn from_bits(bits: u32) -> ExtentType {
        match bits & 3 {
            0 => ExtentType::Allocated,
            1 => ExtentType::Hole,
            2 => ExtentType::Zero,
            _ => ExtentType::HoleZero,
        }
    }
}

/// Block size constraints (the answer of `block_size`).  All zero means
/// "no constraints".  See nbdkit-plugin(3) for the rules the server
/// checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct BlockSize {
    /// Smallest request size: a power of 2 from 1 to 64 KiB.
    pub minimum: u32,
    /// Preferred request size: a power of 2 from 512 to 32 MiB.
    pub preferred: u32,
    /// Largest request size: a multiple of `minimum`, or `u32::MAX`
    /// for "no limit".
    pub maximum: u32,
}

/// The list an `extents` callback adds extents to: C's opaque
/// `struct nbdkit_extents`.  It only ever exists behind a reference or a
/// pointer handed out by the server.
#[repr(C)]
pub struct Extents {
    _opaque: [u8; 0],
    // Neither Send, Sync nor Unpin: it belongs to the server.
    _marker: PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

impl Extents {
    /// Borrows the list the server passed to a raw `extents` callback.
    ///
    /// # Safety
    /// `p` must be the pointer the server passed to the callback that
    /// is running, and the reference must not escape it.
    ///
    /// # Panics
    /// If `p` is NULL (rather than making a NULL reference).
    pub unsafe fn from_ptr<'a>(p: *mut Extents) -> &'a mut Extents {
        assert!(!p.is_null(), "Extents::from_ptr: NULL pointer");
        &mut *p
    }

    /// Adds the extent `[offset, offset + length)`.
    ///
    /// Extents must be added in ascending order without gaps.  They may
    /// start before the offset of the request (the part before it is
    /// ignored) and may go beyond its end; the callback must add at
    /// least one extent that covers the offset of the request.
    pub fn add(&mut self, offset: u64, length: u64, typ: ExtentType) -> Result<()> {
        clear_errno();
        let r = unsafe { ffi::nbdkit_add_extent(self, offset, length, typ as u32) };
        if r == -1 {
            Err(Error::from_server(
                errno::ERANGE,
                format_args!("nbdkit_add_extent: offset {offset} length {length} rejected"),
            ))
        } else {
            Ok(())
        }
    }
}

/// The list a `list_exports` callback adds exports to: C's opaque
/// `struct nbdkit_exports`.
#[repr(C)]
pub struct Exports {
    _opaque: [u8; 0],
    _marker: PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

impl Exports {
    /// Borrows the list the server passed to a raw `list_exports`
    /// callback.
    ///
    /// # Safety
    /// As for [`Extents::from_ptr`].
    ///
    /// # Panics
    /// If `p` is NULL.
    pub unsafe fn from_ptr<'a>(p: *mut Exports) -> &'a mut Exports {
        assert!(!p.is_null(), "Exports::from_ptr: NULL pointer");
        &mut *p
    }

    /// Adds an export with an optional description.
    pub fn add(&mut self, name: &str, description: Option<&str>) -> Result<()> {
        let n = cstring(name)?;
        let d = match description {
            Some(d) => Some(cstring(d)?),
            None => None,
        };
        let dp = d.as_ref().map_or(ptr::null(), |d| d.as_ptr());
        clear_errno();
        let r: c_int = unsafe { ffi::nbdkit_add_export(self, n.as_ptr(), dp) };
        if r == -1 {
            Err(Error::from_server(
                errno::ENOMEM,
                format_args!("nbdkit_add_export: {name}"),
            ))
        } else {
            Ok(())
        }
    }

    /// Adds the default export (whatever `default_export` returns).
    pub fn use_default(&mut self) -> Result<()> {
        clear_errno();
        if unsafe { ffi::nbdkit_use_default_export(self) } == -1 {
            Err(Error::from_server(
                errno::ENOMEM,
                "nbdkit_use_default_export failed",
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        assert_eq!(Flags::MAY_TRIM.bits(), 1);
        assert_eq!(Flags::FUA.bits(), 2);
        assert_eq!(Flags::REQ_ONE.bits(), 4);
        assert_eq!(Flags::FAST_ZERO.bits(), 8);
        let mut f = Flags::empty();
        assert!(f.is_empty());
        assert_eq!(format!("{f:?}"), "Flags(empty)");
        f |= Flags::FAST_ZERO;
        f |= Flags::MAY_TRIM;
        assert!(f.contains(Flags::MAY_TRIM | Flags::FAST_ZERO));
        assert!(f.intersects(Flags::FUA | Flags::MAY_TRIM));
        assert!(!f.intersects(Flags::FUA));
        assert_eq!(f - Flags::MAY_TRIM, Flags::FAST_ZERO);
        assert_eq!(f & Flags::MAY_TRIM, Flags::MAY_TRIM);
        let g = Flags::from_bits_retain(0x12);
        assert_eq!(format!("{g:?}"), "Flags(FUA | 0x10)");
        assert_eq!(Flags::from_bits_truncate(0x12), Flags::FUA);
    }

    #[test]
    fn c_values() {
        assert_eq!(FuaMode::None as i32, 0);
        assert_eq!(FuaMode::Emulate as i32, 1);
        assert_eq!(FuaMode::Native as i32, 2);
        assert_eq!(CacheMode::None as i32, 0);
        assert_eq!(CacheMode::Emulate as i32, 1);
        assert_eq!(CacheMode::Native as i32, 2);
        assert_eq!(ExtentType::Allocated as u32, 0);
        assert_eq!(ExtentType::Hole as u32, 1);
        assert_eq!(ExtentType::Zero as u32, 2);
        assert_eq!(ExtentType::HoleZero as u32, 3);
        for t in [
            ExtentType::Allocated,
            ExtentType::Hole,
            ExtentType::Zero,
            ExtentType::HoleZero,
        ] {
            assert_eq!(ExtentType::from_bits(t as u32), t);
        }
        assert_eq!(
            BlockSize::default(),
            BlockSize {
                minimum: 0,
                preferred: 0,
                maximum: 0
            }
        );
    }
}
