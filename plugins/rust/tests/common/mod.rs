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

/// The role this process plays for `test`: `Some(role)` in a child
/// started by [`run_child`] for that test, `None` otherwise.
#[allow(dead_code)]
pub fn child_role(test: &str) -> Option<String> {
    let v = std::env::var(stubs::CHILD_VAR).ok()?;
    let (t, role) = v.split_once(':')?;
    if t == test {
        Some(role.to_owned())
    } else {
        None
    }
}

/// Runs the test function `test` again in a child process of this test
/// program, where [`child_role`] returns `role`.  For code that ends
/// the process (as the server would), which a test cannot run
/// in-process.
#[allow(dead_code)]
pub fn run_child(test: &str, role: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(stubs::CHILD_VAR, format!("{test}:{role}"))
        .output()
        .unwrap()
}
