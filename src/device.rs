//! Choosing where tensors live: burn's `flex` CPU backend by default, CUDA or WGPU when this
//! crate is built with the `cuda` / `wgpu` feature.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// Where computation runs, as a user names it: `cpu`, `cuda[:N]` or
/// `wgpu[:discrete|integrated|cpu|N]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// burn's flex CPU backend (threads and SIMD), where this crate's fast kernels run.
    #[default]
    Cpu,
    /// The CUDA GPU of this index (a build with the `cuda` feature).
    Cuda(usize),
    /// A wgpu adapter: Vulkan, Metal or DX12 (a build with the `wgpu` feature).
    Wgpu(WgpuAdapter),
}

/// Which wgpu adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgpuAdapter {
    /// wgpu's choice: a high-power GPU first.
    Default,
    /// The discrete GPU of this index (among the discrete ones).
    Discrete(usize),
    /// The integrated GPU of this index.
    Integrated(usize),
    /// A CPU adapter (a software Vulkan driver such as Mesa's lavapipe).
    Cpu,
}

/// Why a device cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("`{spec}` is not a device; give cpu, cuda, cuda:N, wgpu, wgpu:discrete, wgpu:integrated, wgpu:cpu or wgpu:N (N counting from 0)")]
    Unknown { spec: String },
    #[error("this build has no {backend} backend; {rebuild}")]
    NotBuilt {
        backend: &'static str,
        rebuild: &'static str,
    },
    #[error("`{list}` names {spec} twice; name each GPU once (`cuda:0,cuda:1`)")]
    Repeated { spec: DeviceSpec, list: String },
    #[error("no wgpu device `{spec}` on this machine ({detail}); {adapters}")]
    NotPresent {
        spec: DeviceSpec,
        detail: String,
        adapters: String,
    },
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;

    fn from_str(text: &str) -> Result<Self, DeviceError> {
        let unknown = || DeviceError::Unknown {
            spec: text.to_string(),
        };
        let (backend, rest) = match text.split_once(':') {
            Some((backend, rest)) => (backend, Some(rest)),
            None => (text, None),
        };
        let index = |n: &str| n.parse::<usize>().map_err(|_| unknown());
        Ok(match (backend, rest) {
            ("cpu", None) => Self::Cpu,
            ("cuda", None) => Self::Cuda(0),
            ("cuda", Some(n)) => Self::Cuda(index(n)?),
            ("wgpu", None) => Self::Wgpu(WgpuAdapter::Default),
            ("wgpu", Some("discrete")) => Self::Wgpu(WgpuAdapter::Discrete(0)),
            ("wgpu", Some("integrated")) => Self::Wgpu(WgpuAdapter::Integrated(0)),
            ("wgpu", Some("cpu")) => Self::Wgpu(WgpuAdapter::Cpu),
            ("wgpu", Some(n)) => Self::Wgpu(WgpuAdapter::Discrete(index(n)?)),
            _ => return Err(unknown()),
        })
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Wgpu(WgpuAdapter::Default) => write!(f, "wgpu"),
            Self::Wgpu(WgpuAdapter::Discrete(n)) => write!(f, "wgpu:{n}"),
            Self::Wgpu(WgpuAdapter::Integrated(0)) => write!(f, "wgpu:integrated"),
            Self::Wgpu(WgpuAdapter::Integrated(n)) => write!(f, "wgpu:integrated:{n}"),
            Self::Wgpu(WgpuAdapter::Cpu) => write!(f, "wgpu:cpu"),
        }
    }
}

/// One device or several, as a user lists them: `cpu`, `cuda:0,cuda:1`. Several devices train
/// one network together in one process (`train::train_model_on_devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceList(Vec<DeviceSpec>);

impl DeviceList {
    /// The devices, in the order given (the first one's thread reports and writes).
    pub fn specs(&self) -> &[DeviceSpec] {
        &self.0
    }

    /// Every device, ready ([`DeviceSpec::open`]).
    pub fn open(&self) -> Result<Vec<Device>, DeviceError> {
        self.0.iter().map(|spec| spec.open()).collect()
    }
}

impl Default for DeviceList {
    fn default() -> Self {
        Self(vec![DeviceSpec::Cpu])
    }
}

impl FromStr for DeviceList {
    type Err = DeviceError;

    /// Devices separated by commas. A GPU may be named once; `cpu` any number of times (the
    /// CPU's one device, shared: a check of the several-device path, no faster than one).
    fn from_str(text: &str) -> Result<Self, DeviceError> {
        let specs = text
            .split(',')
            .map(|part| part.trim().parse())
            .collect::<Result<Vec<DeviceSpec>, _>>()?;
        for (i, spec) in specs.iter().enumerate() {
            if *spec != DeviceSpec::Cpu && specs[..i].contains(spec) {
                return Err(DeviceError::Repeated {
                    spec: *spec,
                    list: text.to_string(),
                });
            }
        }
        Ok(Self(specs))
    }
}

impl fmt::Display for DeviceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", names.join(","))
    }
}

impl DeviceSpec {
    /// Whether this build has the backend (`cpu` always; `cuda`, `wgpu` with their feature).
    pub fn is_built(self) -> bool {
        match self {
            Self::Cpu => true,
            Self::Cuda(_) => cfg!(feature = "cuda"),
            Self::Wgpu(_) => cfg!(feature = "wgpu"),
        }
    }

    /// The device, ready: a wgpu adapter is acquired now (an error names the adapters there
    /// are); a CUDA device is opened when it is first used.
    pub fn open(self) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            Self::Cuda(index) => open_cuda(index),
            Self::Wgpu(adapter) => open_wgpu(self, adapter),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(index: usize) -> Result<Device, DeviceError> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_index: usize) -> Result<Device, DeviceError> {
    Err(DeviceError::NotBuilt {
        backend: "CUDA",
        rebuild: "build with `cargo build --release --features cuda` on a machine with the CUDA \
                  toolkit and internet access (the build downloads an LLVM bundle), or use \
                  --device wgpu with a build made with `--features wgpu`",
    })
}

#[cfg(feature = "wgpu")]
fn open_wgpu(spec: DeviceSpec, adapter: WgpuAdapter) -> Result<Device, DeviceError> {
    use burn::tensor::DeviceKind;
    let kind = match adapter {
        WgpuAdapter::Default => DeviceKind::DefaultDevice,
        WgpuAdapter::Discrete(n) => DeviceKind::DiscreteGpu(n),
        WgpuAdapter::Integrated(n) => DeviceKind::IntegratedGpu(n),
        WgpuAdapter::Cpu => DeviceKind::Cpu,
    };
    // burn's wgpu runtime starts once per adapter and process: later opens get that device.
    static OPENED: std::sync::Mutex<Vec<(WgpuAdapter, Device)>> = std::sync::Mutex::new(Vec::new());
    let mut opened_before = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, device)) = opened_before.iter().find(|(a, _)| *a == adapter) {
        return Ok(device.clone());
    }
    // burn panics inside its runtime where no adapter matches: caught, and said in words.
    let opened = std::panic::catch_unwind(|| Device::wgpu_options().device_kind(kind).init());
    let detail = match opened {
        Ok(Ok(device)) => {
            opened_before.push((adapter, device.clone()));
            return Ok(device);
        }
        Ok(Err(error)) => error.to_string(),
        Err(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the wgpu runtime failed to start".into()),
    };
    Err(DeviceError::NotPresent {
        spec,
        detail,
        adapters: wgpu_adapters(),
    })
}

/// The adapters wgpu sees, in words, for an error message.
#[cfg(feature = "wgpu")]
fn wgpu_adapters() -> String {
    use burn::tensor::wgpu::wgpu;
    let instance = wgpu::Instance::default();
    let adapters: Vec<String> =
        futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .iter()
            .map(|adapter| {
                let info = adapter.get_info();
                format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend)
            })
            .collect();
    match adapters.is_empty() {
        true => "wgpu sees no adapter at all: install a Vulkan driver (Debian: mesa-vulkan-drivers and libvulkan1; NVIDIA: its driver's Vulkan part)".into(),
        false => format!("the adapters there are: {}", adapters.join(", ")),
    }
}

#[cfg(not(feature = "wgpu"))]
fn open_wgpu(_spec: DeviceSpec, _adapter: WgpuAdapter) -> Result<Device, DeviceError> {
    Err(DeviceError::NotBuilt {
        backend: "wgpu",
        rebuild: "build with `cargo build --release --features wgpu` (Vulkan, Metal or DX12; \
                  on Linux a Vulkan driver, e.g. Debian's mesa-vulkan-drivers and libvulkan1)",
    })
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

/// Whether burn's collective operations (an all-reduce between the devices of one process)
/// run on `device`: CUDA's do, through NCCL; flex's and wgpu's do not (burn 0.22). Read from
/// the device's debug name, which compiles the same with every set of backends built in.
pub fn has_collectives(device: &Device) -> bool {
    format!("{:?}", device.clone().inner().as_dispatch()).contains("Cuda")
}

/// The cores this process may run on (1 where the system does not say).
pub fn cpu_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Sets up the CPU backend's threads (call once, before any tensor work): `threads` threads
/// (`None`: one per core) in rayon's global pool, which burn's flex backend, `gemm` and this
/// crate's kernels all run on; with `flush_denormals`, subnormal floats are computed as zero on
/// those threads and on the calling one (see [`crate::flex::set_flush_denormals`]).
///
/// With two threads or more, the calling thread is the pool's first one (rayon's
/// `use_current_thread`) and `threads - 1` more are started, as OpenMP does in PyTorch. An
/// operation then runs its first part on the calling thread and wakes one worker for the rest.
/// Otherwise the calling thread, outside the pool, would hand every operation to a sleeping
/// worker and sleep until it is done: two futex wake-ups per operation, and the calling thread
/// idle. At batch 1, where a training step is hundreds of operations of a few microseconds,
/// that was a fifth of the cycles (`perf`, GoogLeNet-BN on a 2-core Xeon); see
/// docs/performance.md (*The calling thread computes*) for the effect. With one thread, the
/// calling thread stays outside: a pool of the calling thread alone would never run work that
/// other threads (a data loader's) hand to it while it waits on them.
pub fn setup_cpu(threads: Option<usize>, flush_denormals: bool) -> Result<(), String> {
    crate::flex::set_flush_denormals(flush_denormals);
    let threads = threads.unwrap_or_else(cpu_cores);
    let builder = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |_| crate::flex::set_flush_denormals(flush_denormals));
    let builder = if threads >= 2 {
        builder.use_current_thread()
    } else {
        builder
    };
    builder
        .build_global()
        .map_err(|e| format!("cannot set up the CPU threads: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_read_as_users_write_them() {
        let read = |text: &str| text.parse::<DeviceSpec>().unwrap();
        assert_eq!(read("cpu"), DeviceSpec::Cpu);
        assert_eq!(read("cuda"), DeviceSpec::Cuda(0));
        assert_eq!(read("cuda:3"), DeviceSpec::Cuda(3));
        assert_eq!(read("wgpu"), DeviceSpec::Wgpu(WgpuAdapter::Default));
        assert_eq!(read("wgpu:1"), DeviceSpec::Wgpu(WgpuAdapter::Discrete(1)));
        assert_eq!(
            read("wgpu:discrete"),
            DeviceSpec::Wgpu(WgpuAdapter::Discrete(0))
        );
        assert_eq!(
            read("wgpu:integrated"),
            DeviceSpec::Wgpu(WgpuAdapter::Integrated(0))
        );
        assert_eq!(read("wgpu:cpu"), DeviceSpec::Wgpu(WgpuAdapter::Cpu));
        for text in [
            "cpu",
            "cuda:3",
            "wgpu",
            "wgpu:1",
            "wgpu:integrated",
            "wgpu:cpu",
        ] {
            assert_eq!(read(text).to_string(), text);
        }
        for bad in ["gpu", "cuda:x", "wgpu:fast", "cpu:0", ""] {
            let error = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(error.contains("is not a device; give cpu, cuda"), "{error}");
        }
    }

    #[test]
    fn device_lists_are_read_as_users_write_them() {
        let read = |text: &str| text.parse::<DeviceList>();
        assert_eq!(read("cpu").unwrap(), DeviceList::default());
        let two = read("cuda:0, cuda:1").unwrap();
        assert_eq!(two.specs(), [DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)]);
        assert_eq!(two.to_string(), "cuda:0,cuda:1");
        assert_eq!(read("cpu,cpu").unwrap().specs().len(), 2);
        let error = read("cuda:0,cuda").unwrap_err().to_string();
        assert_eq!(
            error,
            "`cuda:0,cuda` names cuda:0 twice; name each GPU once (`cuda:0,cuda:1`)"
        );
        let error = read("cuda:0,,cuda:1").unwrap_err().to_string();
        assert!(error.starts_with("`` is not a device"), "{error}");
        // Only CUDA devices average gradients with burn's collectives.
        assert!(!has_collectives(&Device::flex()));
    }

    #[test]
    fn a_backend_this_build_lacks_says_how_to_build_it() {
        if !cfg!(feature = "cuda") {
            let error = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
            assert!(error.starts_with("this build has no CUDA backend; build with `cargo build --release --features cuda`"), "{error}");
        }
        if !cfg!(feature = "wgpu") {
            let error = DeviceSpec::Wgpu(WgpuAdapter::Cpu)
                .open()
                .unwrap_err()
                .to_string();
            assert!(error.contains("--features wgpu"), "{error}");
        }
        assert!(DeviceSpec::Cpu.is_built());
    }
}
