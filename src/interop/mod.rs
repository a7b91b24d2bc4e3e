//! Interoperability with PyTorch: a model's weights as a PyTorch state dict (same names, same
//! layouts), read from `.pth` or `.safetensors` files and written as safetensors.
//!
//! [`names`] says which PyTorch name each tensor has; [`files`] reads and writes the formats.
//! [`imagenet`] holds what an ImageNet classifier needs besides weights: class names and the
//! input normalization.

pub mod files;
pub mod imagenet;
pub mod names;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Tensor, TensorData};

use crate::models::Model;
pub use files::{read_state_dict, safetensors_bytes};
pub use names::{torch_names, visit_model, Slot};

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
    #[error("{path} does not fit the {model} model:\n{problems}\n(check --model and --input; `inception summary --model {model} --state-dict` lists the names and shapes it expects)")]
    Mismatch {
        path: PathBuf,
        model: String,
        problems: String,
    },
    #[error("cannot write {path}: {detail}")]
    Write { path: PathBuf, detail: String },
}

/// `model`'s weights and batch-norm statistics under PyTorch's names and layouts.
pub fn state_dict(model: &Model) -> StateDict {
    let mut model = model.clone();
    let mut dict = StateDict::default();
    visit_model(&mut model, &mut |name, slot| {
        let shape = slot.torch_shape();
        let data = match slot {
            Slot::Vector(p) => p.val().into_data(),
            Slot::Kernel(p) => p.val().into_data(),
            Slot::Linear(p) => p.val().transpose().into_data(),
            Slot::Running(r) => r.value_sync().into_data(),
        };
        let values = data
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("float32 after conversion");
        dict.tensors
            .insert(name.to_string(), TorchTensor { shape, values });
    });
    dict
}

/// How many tensors of each kind of problem a mismatch message lists.
const MAX_LISTED: usize = 6;

/// Replaces every weight of `model` with the tensor of the same PyTorch name in `dict`.
///
/// Every tensor the model has must be in `dict` with the right shape, and `dict` must hold
/// nothing else; otherwise the error lists the mis-shaped, missing and unexpected tensors
/// (`source` names the file in it) and the model is not touched.
pub fn load_state_dict(
    model: Model,
    dict: &StateDict,
    source: &Path,
) -> Result<Model, InteropError> {
    let expected = torch_names(&model);
    let mut wrong_shape = Vec::new();
    let mut missing = Vec::new();
    for (name, shape) in &expected {
        match dict.tensors.get(name) {
            None => missing.push(format!("{name} {shape:?}")),
            Some(t) if &t.shape != shape => wrong_shape.push(format!(
                "{name} is {:?} in the file, the model needs {shape:?}",
                t.shape
            )),
            Some(_) => {}
        }
    }
    let known: std::collections::HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
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
            model: model.config.kind.name().to_string(),
            problems: problems.join("\n"),
        });
    }
    let mut model = model;
    visit_model(&mut model, &mut |name, slot| {
        let tensor = &dict.tensors[name];
        let data = || TensorData::new(tensor.values.clone(), tensor.shape.clone());
        match slot {
            Slot::Vector(p) => {
                let value = Tensor::<1>::from_data(data(), &p.lazy_device());
                *p = Param::initialized(p.id, value);
            }
            Slot::Kernel(p) => {
                let value = Tensor::<4>::from_data(data(), &p.lazy_device());
                *p = Param::initialized(p.id, value);
            }
            Slot::Linear(p) => {
                let value = Tensor::<2>::from_data(data(), &p.lazy_device()).transpose();
                *p = Param::initialized(p.id, value);
            }
            Slot::Running(r) => {
                // A running state's id is private; mapping keeps it.
                *r = r.clone().map(&mut ReplaceValue(data()));
            }
        }
    });
    Ok(model)
}

/// Replaces the value of every float tensor it maps with the same data.
struct ReplaceValue(TensorData);

impl ModuleMapper for ReplaceValue {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let data = self.0.clone();
        param.map(|old| Tensor::from_data(data, &old.device()))
    }
}

/// Reads `path` (`.pth`/`.pt` or `.safetensors`) into `model`.
pub fn import(model: Model, path: &Path) -> Result<Model, InteropError> {
    let dict = read_state_dict(path)?;
    load_state_dict(model, &dict, path)
}

/// Writes `model`'s weights to `path` as safetensors with PyTorch's names, atomically.
pub fn export_safetensors(model: &Model, path: &Path) -> Result<(), InteropError> {
    let write_error = |detail: String| InteropError::Write {
        path: path.to_path_buf(),
        detail,
    };
    let bytes = safetensors_bytes(&state_dict(model)).map_err(write_error)?;
    crate::fsutil::write_atomic(path, &bytes).map_err(|e| write_error(e.to_string()))
}
