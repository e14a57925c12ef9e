//! Process hardening for the tools that hold secrets: no core dumps, and no
//! debugger attach by other processes of the same user (Linux
//! `PR_SET_DUMPABLE`, which also keeps `/proc/PID/mem` closed to them).
//! Called before any secret is touched.

/// Turns off core dumps and marks the process not dumpable. Fails only if
/// the kernel refuses; callers that hold secrets should treat that as fatal.
pub fn disable_core_dumps() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Whether core dumps are off for this process (for tests and `--help`).
pub fn core_dumps_disabled() -> bool {
    rustix::process::getrlimit(rustix::process::Resource::Core).current == Some(0)
}
