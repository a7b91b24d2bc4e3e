use std::process::ExitCode;

/// mimalloc keeps the large activation buffers of a training step for the next one instead of
/// handing them back to the kernel after every operation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    inception::cli::main()
}
