use std::process::ExitCode;

/// mimalloc keeps the large activation buffers of a training step for the next one instead of
/// handing them back to the kernel after every operation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h`, v2 and v3 alike; libmimalloc-sys 0.1 has
/// no name for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never give freed memory back to the kernel while the process runs. By default mimalloc
/// purges freed pages after a delay (10 ms in v2, 1 s in v3, which libmimalloc-sys 0.1.49
/// builds), so the next training step faults them in again and the kernel zeroes every page.
/// Measured on a 2-core Intel Xeon with AVX-512 (`inception bench --model googlenet --batch
/// 128`, 2 warm-up + 8 timed steps): with v3's default, 2.3 GiB purged and about 15,000 page
/// faults per step, the kernel's page clearing 14% of all cycles (`perf`); without purging,
/// 860 page faults in the whole run. The price: the peak resident memory counts freed pages
/// too (VGG-11 at batch 128: 9,306 MiB, against 6,416 with `MIMALLOC_PURGE_DELAY=0`, which
/// trained 6% slower in one run each). A user's `MIMALLOC_PURGE_DELAY` still wins.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: a plain call into mimalloc's option table, valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

fn main() -> ExitCode {
    keep_freed_memory();
    inception::cli::main()
}
