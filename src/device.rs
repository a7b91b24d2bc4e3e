//! Choosing where tensors live: burn's `flex` CPU backend by default, CUDA or WGPU when this
//! crate is built with the `cuda` / `wgpu` feature.

use burn::tensor::Device;

/// A compute device selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Backend {
    /// burn's flex CPU backend (threads and SIMD).
    #[default]
    Cpu,
    /// The first CUDA GPU (build with `--features cuda`).
    #[cfg(feature = "cuda")]
    Cuda,
    /// The default WGPU adapter (build with `--features wgpu`).
    #[cfg(feature = "wgpu")]
    Wgpu,
}

impl Backend {
    /// The inference device; training uses its `.autodiff()` version.
    pub fn device(self) -> Device {
        match self {
            Backend::Cpu => Device::flex(),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Device::cuda(0),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        }
    }
}

/// Limits the CPU backend to `threads` threads (call once, before any tensor work).
pub fn set_cpu_threads(threads: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| format!("cannot set the thread count: {e}"))
}
