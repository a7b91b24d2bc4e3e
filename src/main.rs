use std::process::ExitCode;

/// mimalloc keeps the large activation buffers of a training step for the next one instead of
/// handing them back to the kernel after every operation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_purge_delay` (`mimalloc.h`; libmimalloc-sys 0.1 has no name for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Its default, 10 ms.
const DEFAULT_PURGE_DELAY: std::os::raw::c_long = 10;

/// Never give freed memory back to the kernel while the process runs. By default mimalloc
/// purges freed pages after 10 ms, so the next training step faults them in again; measured
/// here (`inception bench --batch 32`, 5 runs each), training ran at 43 to 61 images/s with
/// purging and at 58 to 63 without, for about 5% more peak memory. A user's
/// `MIMALLOC_PURGE_DELAY` still wins: only the default is replaced.
fn keep_freed_memory() {
    // SAFETY: plain calls into mimalloc's option table, valid at any time.
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == DEFAULT_PURGE_DELAY {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
        }
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    inception::cli::main()
}
