//! Interoperability with PyTorch: a model's weights as a PyTorch state dict (same names, same
//! layouts), read from `.pth` or `.safetensors` files and written as safetensors.
//!
//! [`names`] says which PyTorch name each tensor has; [`files`] reads and writes the formats.
//! [`imagenet`] holds what an ImageNet classifier needs besides weights: class names and the
//! input normalization.

pub mod files;
pub mod imagenet;
pub mod names;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

use crate::nn::{Classifier, Layout};
pub use files::{read_state_dict, safetensors_bytes};
pub use names::{torch_entries, torch_names, TorchEntry};

/// One tensor in PyTorch's layout, as float32.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A PyTorch state dict: float tensors by name (integer buffers such as
/// `num_batches_tracked` are left out when reading).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    pub tensors: BTreeMap<String, TorchTensor>,
}

/// Why weights could not be exchanged with PyTorch.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    #[error("cannot read {path} as PyTorch weights: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path} does not fit the {model} model:\n{problems}\n(check that the file holds weights for this network and input size; `inception summary --state-dict` lists the names and shapes it expects)")]
    Mismatch {
        path: PathBuf,
        model: String,
        problems: String,
    },
    #[error("cannot write {path}: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error("no tensor of {path} fits the {model} model by name and shape (the model's are named like {ours}; the file's like {theirs}); give weights of the same network (`inception summary --state-dict` lists the names)")]
    NothingMatches {
        path: PathBuf,
        model: String,
        ours: String,
        theirs: String,
    },
}

/// `network`'s weights and batch-norm statistics under PyTorch's names and layouts.
pub fn state_dict<N: Classifier>(network: &N) -> StateDict {
    let entries = torch_entries(network);
    let mut reader = ReadValues {
        path: Vec::new(),
        entries: entries.iter().map(|e| (e.path.as_str(), e)).collect(),
        dict: StateDict::default(),
    };
    network.visit(&mut reader);
    reader.dict
}

/// Collects every tensor's values under its PyTorch name.
struct ReadValues<'a> {
    path: Vec<String>,
    entries: HashMap<&'a str, &'a TorchEntry>,
    dict: StateDict,
}

impl ModuleVisitor for ReadValues<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        let Some(entry) = self.entries.get(path.as_str()) else {
            return;
        };
        if self.dict.tensors.contains_key(&entry.name) {
            return;
        }
        let value = match entry.layout {
            Layout::Same => param.val(),
            Layout::Transposed => param.val().transpose(),
        };
        let values = value
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("float32 after conversion");
        self.dict.tensors.insert(
            entry.name.clone(),
            TorchTensor {
                shape: entry.shape.clone(),
                values,
            },
        );
    }
}

/// How many tensors of each kind of problem a mismatch message lists.
const MAX_LISTED: usize = 6;

/// Replaces every weight of `network` with the tensor of the same PyTorch name in `dict`.
///
/// Every tensor the network has must be in `dict` with the right shape, and `dict` must hold
/// nothing else; otherwise the error lists the mis-shaped, missing and unexpected tensors
/// (`source` names the file) and the network is not touched.
pub fn load_state_dict<N: Classifier>(
    network: N,
    dict: &StateDict,
    source: &Path,
) -> Result<N, InteropError> {
    let entries = torch_entries(&network);
    let mut wrong_shape = Vec::new();
    let mut missing = Vec::new();
    for entry in &entries {
        match dict.tensors.get(&entry.name) {
            None => missing.push(format!("{} {:?}", entry.name, entry.shape)),
            Some(t) if t.shape != entry.shape => wrong_shape.push(format!(
                "{} is {:?} in the file, the model needs {:?}",
                entry.name, t.shape, entry.shape
            )),
            Some(_) => {}
        }
    }
    let known: HashSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let unexpected: Vec<String> = dict
        .tensors
        .iter()
        .filter(|(name, _)| !known.contains(name.as_str()))
        .map(|(name, t)| format!("{name} {:?}", t.shape))
        .collect();
    let mut problems = Vec::new();
    for (what, list) in [
        ("wrong shape", &wrong_shape),
        ("missing", &missing),
        ("unexpected", &unexpected),
    ] {
        for item in list.iter().take(MAX_LISTED) {
            problems.push(format!("  {what}: {item}"));
        }
        if list.len() > MAX_LISTED {
            problems.push(format!("  ... {} more {what}", list.len() - MAX_LISTED));
        }
    }
    if !problems.is_empty() {
        return Err(InteropError::Mismatch {
            path: source.to_path_buf(),
            model: network.network_name(),
            problems: problems.join("\n"),
        });
    }
    let mut writer = WriteValues {
        path: Vec::new(),
        entries: entries
            .iter()
            .map(|e| (e.path.clone(), e.clone()))
            .collect(),
        dict,
    };
    Ok(network.map(&mut writer))
}

/// What [`load_matching`] took from a state dict and what it left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchReport {
    /// The network's tensors now holding the file's values (PyTorch names).
    pub loaded: Vec<String>,
    /// The network's tensors left as they were: not in the file, or of another shape there
    /// (`name [shape]`, with the file's shape when it has one).
    pub fresh: Vec<String>,
    /// The file's tensors the network has no place for (`name [shape]`).
    pub unused: Vec<String>,
}

impl MatchReport {
    /// One paragraph: the counts, then the first few of each list.
    pub fn describe(&self, source: &Path) -> String {
        let list = |items: &[String]| {
            let mut shown: Vec<&str> = items.iter().take(MAX_LISTED).map(String::as_str).collect();
            let more = items.len().saturating_sub(MAX_LISTED);
            let more = format!("... {more} more");
            if items.len() > MAX_LISTED {
                shown.push(&more);
            }
            shown.join(", ")
        };
        let mut out = format!(
            "loaded {} tensors from {}",
            self.loaded.len(),
            source.display()
        );
        if !self.fresh.is_empty() {
            out += &format!("; left fresh ({}): {}", self.fresh.len(), list(&self.fresh));
        }
        if !self.unused.is_empty() {
            out += &format!(
                "; not used from the file ({}): {}",
                self.unused.len(),
                list(&self.unused)
            );
        }
        out
    }
}

/// Loads every tensor of `dict` whose PyTorch name and shape match one of `network`'s, as
/// PyTorch's `load_state_dict(strict=False)` does (which also refuses mis-shaped tensors; here
/// they are left fresh, so a classifier head of another class count starts anew). Fails when
/// nothing matches: the file is surely for another network.
pub fn load_matching<N: Classifier>(
    network: N,
    dict: &StateDict,
    source: &Path,
) -> Result<(N, MatchReport), InteropError> {
    let entries = torch_entries(&network);
    let mut report = MatchReport::default();
    let mut matching = HashMap::new();
    for entry in &entries {
        match dict.tensors.get(&entry.name) {
            Some(t) if t.shape == entry.shape => {
                report.loaded.push(entry.name.clone());
                matching.insert(entry.path.clone(), entry.clone());
            }
            Some(t) => report.fresh.push(format!(
                "{} {:?} (the file's is {:?})",
                entry.name, entry.shape, t.shape
            )),
            None => report
                .fresh
                .push(format!("{} {:?}", entry.name, entry.shape)),
        }
    }
    let known: HashSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    report.unused = dict
        .tensors
        .iter()
        .filter(|(name, _)| !known.contains(name.as_str()))
        .map(|(name, t)| format!("{name} {:?}", t.shape))
        .collect();
    if report.loaded.is_empty() {
        return Err(InteropError::NothingMatches {
            path: source.to_path_buf(),
            model: network.network_name(),
            ours: entries
                .iter()
                .take(3)
                .map(|e| format!("{} {:?}", e.name, e.shape))
                .collect::<Vec<_>>()
                .join(", "),
            theirs: dict
                .tensors
                .iter()
                .take(3)
                .map(|(name, t)| format!("{name} {:?}", t.shape))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut writer = WriteValues {
        path: Vec::new(),
        entries: matching,
        dict,
    };
    Ok((network.map(&mut writer), report))
}

/// Sets every tensor to the values of its PyTorch name in the dict, keeping its id, device and
/// gradient tracking.
struct WriteValues<'a> {
    path: Vec<String>,
    entries: HashMap<String, TorchEntry>,
    dict: &'a StateDict,
}

impl ModuleMapper for WriteValues<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let Some(entry) = self.entries.get(&path) else {
            return param;
        };
        let tensor = &self.dict.tensors[&entry.name];
        let data = TensorData::new(tensor.values.clone(), tensor.shape.clone());
        let device = param.lazy_device();
        let require_grad = param.is_require_grad();
        let value = Tensor::<D>::from_data(data, &device);
        let value = match entry.layout {
            Layout::Same => value,
            Layout::Transposed => value.transpose(),
        };
        let value = if require_grad {
            value.require_grad()
        } else {
            value
        };
        Param::initialized(param.id, value)
    }
}

/// Reads `path` (`.pth`/`.pt` or `.safetensors`) into `network`.
pub fn import<N: Classifier>(network: N, path: &Path) -> Result<N, InteropError> {
    let dict = read_state_dict(path)?;
    load_state_dict(network, &dict, path)
}

/// Writes `network`'s weights to `path` as safetensors with PyTorch's names, atomically, with
/// `metadata` in the file's header.
pub fn export_safetensors<N: Classifier>(
    network: &N,
    path: &Path,
    metadata: &[(String, String)],
) -> Result<(), InteropError> {
    let write_error = |detail: String| InteropError::Write {
        path: path.to_path_buf(),
        detail,
    };
    let bytes = safetensors_bytes(&state_dict(network), metadata).map_err(write_error)?;
    crate::fsutil::write_atomic(path, &bytes).map_err(|e| write_error(e.to_string()))
}
