//! The `s3seal` command: parse the arguments, run, and turn the outcome into an exit code.
//! Everything else lives in `cli/` (the command line) and the library (the work).

mod cli;

fn main() -> std::process::ExitCode {
    return_freed_buffers();
    cli::main()
}

/// Blocks of at least this size get their own mapping from glibc's malloc, returned to the
/// system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// glibc raises its mmap threshold each time a large block is freed, so later buffers of a
/// few MiB come from its per-thread heaps, where freed memory stays with the process. Over a
/// tree of files of many sizes that held 20-30 MiB more than was in use (peak RSS 138-150 MiB
/// against 114-117 MiB with a fixed threshold; docs/PERFORMANCE.md, "Memory bound"). A fixed
/// threshold keeps peak memory at what is in flight.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_freed_buffers() {
    // SAFETY: mallopt only sets a malloc parameter. It runs first thing in main, before any
    // other thread exists, and its result (0 when refused) changes only memory use.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_buffers() {}
