//! Choosing where tensors live: burn's `flex` CPU backend by default, CUDA or WGPU when this
//! crate is built with the `cuda` / `wgpu` feature.

use burn::tensor::Device;

/// A compute backend: the flex CPU backend, or a GPU one this build was compiled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// Every backend this build has.
    pub const ALL: &'static [Backend] = &[
        Backend::Cpu,
        #[cfg(feature = "cuda")]
        Backend::Cuda,
        #[cfg(feature = "wgpu")]
        Backend::Wgpu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            #[cfg(feature = "cuda")]
            Backend::Cuda => "cuda",
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => "wgpu",
        }
    }

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

/// What `device` is, in a few words: `flex (CPU)`, or burn's own name of a GPU device.
pub fn describe(device: &Device) -> String {
    match device.clone().inner().as_dispatch() {
        burn::backend::DispatchDevice::Flex(_) => "flex (CPU)".to_string(),
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

/// Whether `device` is burn's flex CPU backend (where this crate's fast paths run).
pub fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

/// Sets up the CPU backend's threads (call once, before any tensor work): `threads` threads
/// (`None`: one per core) in rayon's global pool, which burn's flex backend, `gemm` and this
/// crate's kernels all run on; with `flush_denormals`, subnormal floats are computed as zero on
/// those threads and on the calling one (see [`crate::flex::set_flush_denormals`]).
pub fn setup_cpu(threads: Option<usize>, flush_denormals: bool) -> Result<(), String> {
    crate::flex::set_flush_denormals(flush_denormals);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .start_handler(move |_| crate::flex::set_flush_denormals(flush_denormals))
        .build_global()
        .map_err(|e| format!("cannot set up the CPU threads: {e}"))
}
