//! Shared by the integration tests: `mod common;` links the server stubs
//! into the test program.

pub mod stubs;

use std::sync::{Mutex, MutexGuard};

/// Tests that use process-wide state (statics of the test plugin, the
/// stubs' shutdown flag) take this lock.
#[allow(dead_code)]
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
