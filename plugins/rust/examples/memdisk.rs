//! memdisk: a sparse in-memory disk written with the safe API.
//!
//! ```text
//! cargo build --release --example memdisk
//! nbdkit ./target/release/examples/libmemdisk.so size=1G
//! ```
//!
//! Memory is allocated in 4 KiB pages, only when a page is first written.
//! Trimming (or zeroing with permission to trim) whole pages frees them
//! again, and `extents` reports the layout: unallocated pages are holes
//! that read as zeroes, allocated pages are data, or "zero" if they
//! happen to contain only zeroes.  All connections share one disk.  Each
//! page has its own lock, so requests run in parallel.
//!
//! FUA is native: memory needs no flushing, but FUA writes are logged
//! (with `-v`) to show the flag arrives.
//!
//! Parameters:
//!
//! * `size=SIZE` (or just `SIZE`): size of the disk (required).
//! * `thread-model=MODEL`: run under a stricter thread model
//!   (`serialize_connections`, `serialize_all_requests`,
//!   `serialize_requests`; default `parallel`).
//! * `description=TEXT`: the export description.
//! * `panic-offset=OFFSET`: panic in any read that covers this byte.
//! * `panic-export=NAME`: panic when a client opens this export.
//!
//! The last two exist to show that a panicking callback only fails the
//! request (with `EIO`) and does not take the server down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use nbdkit::*;

const PAGE: u64 = 4096;

struct Config {
    size: Option<u64>,
    thread_model: ThreadModel,
    description: Option<String>,
    panic_offset: Option<u64>,
    panic_export: Option<String>,
}

static CONFIG: Mutex<Config> = Mutex::new(Config {
    size: None,
    thread_model: ThreadModel::Parallel,
    description: None,
    panic_offset: None,
    panic_export: None,
});

// Created by get_ready, shared by every connection.
static DISK: Mutex<Option<Arc<Disk>>> = Mutex::new(None);

// Statistics, printed when the plugin is unloaded.
static FUA_WRITES: AtomicU64 = AtomicU64::new(0);
static FLUSHES: AtomicU64 = AtomicU64::new(0);

// A panic elsewhere must not make the data unreachable, so poisoned
// locks are simply taken over.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Page = Option<Box<[u8]>>;

fn read_page(p: &RwLock<Page>) -> RwLockReadGuard<'_, Page> {
    p.read().unwrap_or_else(|e| e.into_inner())
}

fn write_page(p: &RwLock<Page>) -> RwLockWriteGuard<'_, Page> {
    p.write().unwrap_or_else(|e| e.into_inner())
}

struct Disk {
    size: u64,
    pages: Vec<RwLock<Page>>,
}

/// Splits `[offset, offset + len)` at page boundaries and calls
/// `f(page, offset in page, length, offset in the request)` per piece.
fn for_each_piece<F>(offset: u64, len: u64, mut f: F) -> Result<()>
where
    F: FnMut(usize, usize, usize, usize) -> Result<()>,
{
    let mut done = 0;
    while done < len {
        let pos = offset + done;
        let n = (PAGE - pos % PAGE).min(len - done);
        f(
            (pos / PAGE) as usize,
            (pos % PAGE) as usize,
            n as usize,
            done as usize,
        )?;
        done += n;
    }
    Ok(())
}

impl Disk {
    fn new(size: u64) -> Result<Disk> {
        let n = usize::try_from((size + PAGE - 1) / PAGE)?;
        let mut pages = Vec::new();
        pages
            .try_reserve_exact(n)
            .map_err(|e| Error::new(errno::ENOMEM, e))?;
        pages.extend((0..n).map(|_| RwLock::new(None)));
        Ok(Disk { size, pages })
    }

    fn read(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        for_each_piece(offset, buf.len() as u64, |page, at, n, done| {
            let out = &mut buf[done..done + n];
            match &*read_page(&self.pages[page]) {
                Some(data) => out.copy_from_slice(&data[at..at + n]),
                None => out.fill(0),
            }
            Ok(())
        })
    }

    fn write(&self, buf: &[u8], offset: u64) -> Result<()> {
        for_each_piece(offset, buf.len() as u64, |page, at, n, done| {
            let mut p = write_page(&self.pages[page]);
            let data = p.get_or_insert_with(|| vec![0; PAGE as usize].into_boxed_slice());
            data[at..at + n].copy_from_slice(&buf[done..done + n]);
            Ok(())
        })
    }

    /// Zeroes a range; whole pages are freed if `punch`.
    fn zero(&self, count: u32, offset: u64, punch: bool) -> Result<()> {
        for_each_piece(offset, count as u64, |page, at, n, _| {
            let mut p = write_page(&self.pages[page]);
            if punch && n as u64 == PAGE {
                *p = None;
            } else if let Some(data) = p.as_mut() {
                data[at..at + n].fill(0);
            }
            Ok(())
        })
    }

    fn page_type(&self, page: usize) -> ExtentType {
        match &*read_page(&self.pages[page]) {
            None => ExtentType::HoleZero,
            Some(data) if data.iter().all(|&b| b == 0) => ExtentType::Zero,
            Some(_) => ExtentType::Allocated,
        }
    }

    fn allocated_pages(&self) -> usize {
        self.pages.iter().filter(|p| read_page(p).is_some()).count()
    }
}

/// One client connection.
struct MemDisk {
    disk: Arc<Disk>,
}

impl Drop for MemDisk {
    fn drop(&mut self) {
        debug!(
            "memdisk: connection closed, {} pages allocated",
            self.disk.allocated_pages()
        );
    }
}

impl Server for MemDisk {
    fn name() -> &'static str {
        "memdisk"
    }

    fn longname() -> Option<&'static str> {
        Some("sparse in-memory disk (Rust safe API example)")
    }

    fn version() -> Option<&'static str> {
        Some(env!("CARGO_PKG_VERSION"))
    }

    fn description() -> Option<&'static str> {
        Some("A sparse RAM disk with extents and native FUA, written in Rust.")
    }

    fn config_help() -> Option<&'static str> {
        Some(
            "size=<SIZE>              (required) Size of the disk.\n\
             thread-model=<MODEL>     Stricter thread model.\n\
             description=<TEXT>       Export description.\n\
             panic-offset=<OFFSET>    Panic in reads covering this byte.\n\
             panic-export=<NAME>      Panic when this export is opened.",
        )
    }

    fn magic_config_key() -> Option<&'static str> {
        Some("size")
    }

    fn load() {
        debug!("memdisk: loaded");
    }

    fn unload() {
        debug!(
            "memdisk: unloading after {} FUA writes and {} flushes",
            FUA_WRITES.load(Ordering::Relaxed),
            FLUSHES.load(Ordering::Relaxed)
        );
    }

    fn config(key: &str, value: &str) -> Result<()> {
        let mut c = lock(&CONFIG);
        match key {
            "size" => c.size = Some(parse_size(value)?),
            "thread-model" | "thread_model" => c.thread_model = value.parse()?,
            "description" => c.description = Some(value.to_owned()),
            "panic-offset" => c.panic_offset = Some(parse_size(value)?),
            "panic-export" => c.panic_export = Some(value.to_owned()),
            _ => {
                return Err(Error::new(
                    errno::EINVAL,
                    format!("unknown parameter '{key}'"),
                ))
            }
        }
        Ok(())
    }

    fn config_complete() -> Result<()> {
        match lock(&CONFIG).size {
            Some(n) if n > i64::MAX as u64 => {
                Err(Error::new(errno::EFBIG, format!("size={n} is too large")))
            }
            Some(_) => Ok(()),
            None => Err(Error::new(errno::EINVAL, "the size parameter is required")),
        }
    }

    fn dump_plugin() {
        println!("memdisk_page_size={PAGE}");
    }

    fn thread_model() -> Result<ThreadModel> {
        Ok(lock(&CONFIG).thread_model)
    }

    fn get_ready() -> Result<()> {
        let size = lock(&CONFIG).size.unwrap_or(0);
        *lock(&DISK) = Some(Arc::new(Disk::new(size)?));
        Ok(())
    }

    fn after_fork() -> Result<()> {
        debug!("memdisk: serving");
        Ok(())
    }

    fn cleanup() {
        *lock(&DISK) = None;
    }

    fn preconnect(readonly: bool) -> Result<()> {
        debug!("memdisk: client connecting (readonly={readonly})");
        Ok(())
    }

    fn list_exports(_readonly: bool, _is_tls: bool, exports: &mut Exports) -> Result<()> {
        let desc = lock(&CONFIG).description.clone();
        exports.add("", desc.as_deref())
    }

    fn default_export(_readonly: bool, _is_tls: bool) -> Result<String> {
        Ok(String::new())
    }

    fn open(_readonly: bool) -> Result<MemDisk> {
        let panic_export = lock(&CONFIG).panic_export.clone();
        if let Some(name) = panic_export {
            if export_name()? == name {
                panic!("memdisk: deliberate panic opening export '{name}'");
            }
        }
        let disk = lock(&DISK)
            .clone()
            .ok_or_else(|| Error::new(errno::EIO, "memdisk: disk not allocated"))?;
        Ok(MemDisk { disk })
    }

    fn get_size(&self) -> Result<u64> {
        Ok(self.disk.size)
    }

    fn export_description(&self) -> Result<String> {
        let d = lock(&CONFIG).description.clone();
        Ok(d.unwrap_or_else(|| format!("Rust memdisk of {} bytes", self.disk.size)))
    }

    fn block_size(&self) -> Result<BlockSize> {
        Ok(BlockSize {
            minimum: 1,
            preferred: PAGE as u32,
            maximum: u32::MAX,
        })
    }

    fn can_write(&self) -> Result<bool> {
        Ok(true)
    }

    fn can_flush(&self) -> Result<bool> {
        Ok(true)
    }

    fn is_rotational(&self) -> Result<bool> {
        Ok(false)
    }

    fn can_trim(&self) -> Result<bool> {
        Ok(true)
    }

    fn can_zero(&self) -> Result<bool> {
        Ok(true)
    }

    fn can_fast_zero(&self) -> Result<bool> {
        Ok(true)
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
        Ok(CacheMode::Native)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64, _flags: Flags) -> Result<()> {
        if let Some(p) = lock(&CONFIG).panic_offset {
            if p >= offset && p - offset < buf.len() as u64 {
                panic!("memdisk: deliberate panic reading offset {p}");
            }
        }
        self.disk.read(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64, flags: Flags) -> Result<()> {
        self.disk.write(buf, offset)?;
        if flags.contains(Flags::FUA) {
            // Memory is as durable as it gets; just show the flag arrived.
            FUA_WRITES.fetch_add(1, Ordering::Relaxed);
            debug!("memdisk: FUA write of {} bytes at {offset}", buf.len());
        }
        Ok(())
    }

    fn flush(&self, _flags: Flags) -> Result<()> {
        FLUSHES.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn trim(&self, count: u32, offset: u64, _flags: Flags) -> Result<()> {
        self.disk.zero(count, offset, true)
    }

    fn zero(&self, count: u32, offset: u64, flags: Flags) -> Result<()> {
        self.disk
            .zero(count, offset, flags.contains(Flags::MAY_TRIM))
    }

    fn extents(&self, count: u32, offset: u64, flags: Flags, extents: &mut Extents) -> Result<()> {
        let disk = &self.disk;
        let end = (offset + count as u64).min(disk.size);
        let req_one = flags.contains(Flags::REQ_ONE);
        let mut page = offset / PAGE;
        let mut run_start = page * PAGE;
        let mut run_type = None;
        while page * PAGE < end {
            let t = disk.page_type(page as usize);
            match run_type {
                Some(r) if r != t => {
                    extents.add(run_start, page * PAGE - run_start, r)?;
                    if req_one {
                        return Ok(());
                    }
                    run_start = page * PAGE;
                }
                _ => {}
            }
            run_type = Some(t);
            page += 1;
        }
        let run_end = (page * PAGE).min(disk.size);
        extents.add(
            run_start,
            run_end - run_start,
            run_type.unwrap_or(ExtentType::HoleZero),
        )
    }

    // Everything is in memory already.
    fn cache(&self, _count: u32, _offset: u64, _flags: Flags) -> Result<()> {
        Ok(())
    }
}

plugin!(MemDisk {
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
});
