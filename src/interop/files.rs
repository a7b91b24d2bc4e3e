//! Reading PyTorch state dicts (`.pth`/`.pt` through burn's `pytorch-reader`, no Python
//! needed) and safetensors files, and writing safetensors that PyTorch loads.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use pytorch_reader::{DType, PytorchReader};
use safetensors::{Dtype, SafeTensors};

use super::{InteropError, StateDict, TorchTensor};

/// The largest weights file we agree to read into memory (VGG-11 is about 0.5 GB).
const MAX_FILE_LEN: u64 = 4 << 30;

/// Keys under which training scripts often nest the state dict (`torch.save({"state_dict": ...})`).
const NESTING_KEYS: [&str; 3] = ["state_dict", "model", "model_state_dict"];

/// Reads a state dict from `path`: safetensors if the name ends in `.safetensors`, otherwise
/// any file `torch.save` writes (zip, legacy or tar; a plain or nested state dict, or a whole
/// model).
pub fn read_state_dict(path: &Path) -> Result<StateDict, InteropError> {
    let is_safetensors = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if is_safetensors {
        read_safetensors(path)
    } else {
        read_pytorch(path)
    }
}

fn read_error(path: &Path, detail: impl std::fmt::Display) -> InteropError {
    InteropError::Read {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// The floating point element types we read (and convert to float32).
#[derive(Clone, Copy)]
enum FloatKind {
    F32,
    F64,
    F16,
    BF16,
}

/// Decodes `bytes` of `kind`, little-endian if `little`, else big-endian, into float32.
fn decode(bytes: &[u8], kind: FloatKind, little: bool) -> Vec<f32> {
    fn word<const N: usize>(chunk: &[u8], little: bool) -> [u8; N] {
        let mut out: [u8; N] = chunk.try_into().expect("chunks of N bytes");
        if !little {
            out.reverse();
        }
        out
    }
    match kind {
        FloatKind::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(word(c, little)))
            .collect(),
        FloatKind::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(word(c, little)) as f32)
            .collect(),
        FloatKind::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes(word(c, little)).to_f32())
            .collect(),
        FloatKind::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes(word(c, little)).to_f32())
            .collect(),
    }
}

fn not_float(path: &Path, name: &str, dtype: impl std::fmt::Debug) -> InteropError {
    read_error(
        path,
        format!("tensor `{name}` has element type {dtype:?}, not a floating point type"),
    )
}

/// Integer tensors a PyTorch state dict carries that have no place in our models.
fn is_ignorable_integer(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

fn read_pytorch(path: &Path) -> Result<StateDict, InteropError> {
    if !path.exists() {
        return Err(read_error(path, "no such file"));
    }
    let mut reader = PytorchReader::new(path).map_err(|e| read_error(path, e))?;
    if reader.is_empty() {
        // A checkpoint dict with the weights one level down.
        if let Some(nested) = NESTING_KEYS
            .iter()
            .find_map(|key| PytorchReader::with_top_level_key(path, key).ok())
            .filter(|r| !r.is_empty())
        {
            reader = nested;
        }
    }
    let mut dict = StateDict::default();
    for (name, tensor) in reader.into_tensors() {
        let bytes = tensor.read().map_err(|e| read_error(path, e))?;
        let kind = match tensor.dtype() {
            DType::F32 => FloatKind::F32,
            DType::F64 => FloatKind::F64,
            DType::F16 => FloatKind::F16,
            DType::BF16 => FloatKind::BF16,
            _ if is_ignorable_integer(&name) => continue,
            other => return Err(not_float(path, &name, other)),
        };
        // pytorch-reader hands bytes over in the machine's order.
        let values = decode(&bytes, kind, cfg!(target_endian = "little"));
        let shape = tensor.shape().to_vec();
        dict.tensors.insert(name, TorchTensor { shape, values });
    }
    if dict.tensors.is_empty() {
        return Err(read_error(path, "it holds no floating point tensors"));
    }
    Ok(dict)
}

fn read_safetensors(path: &Path) -> Result<StateDict, InteropError> {
    let len = std::fs::metadata(path)
        .map_err(|e| read_error(path, e))?
        .len();
    if len > MAX_FILE_LEN {
        return Err(read_error(
            path,
            format!("it is {len} bytes, more than the {MAX_FILE_LEN} this tool reads"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| read_error(path, e))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| read_error(path, format!("not a valid safetensors file ({e})")))?;
    let mut dict = StateDict::default();
    for (name, view) in file.iter() {
        let kind = match view.dtype() {
            Dtype::F32 => FloatKind::F32,
            Dtype::F64 => FloatKind::F64,
            Dtype::F16 => FloatKind::F16,
            Dtype::BF16 => FloatKind::BF16,
            _ if is_ignorable_integer(name) => continue,
            other => return Err(not_float(path, name, other)),
        };
        // safetensors is little-endian.
        let values = decode(view.data(), kind, true);
        dict.tensors.insert(
            name.to_string(),
            TorchTensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    if dict.tensors.is_empty() {
        return Err(read_error(path, "it holds no floating point tensors"));
    }
    Ok(dict)
}

/// Serializes `dict` as safetensors (float32, little-endian), adding the `num_batches_tracked`
/// counter PyTorch's batch norm expects beside each `running_mean`, so that
/// `model.load_state_dict(safetensors.torch.load_file(path))` works in strict mode. `metadata`
/// goes into the file's header beside `format: pt` (`safe_open(path, "pt").metadata()`).
pub fn safetensors_bytes(
    dict: &StateDict,
    metadata: &[(String, String)],
) -> Result<Vec<u8>, String> {
    let mut raw: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for (name, tensor) in &dict.tensors {
        let bytes = tensor.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        raw.insert(name.clone(), (Dtype::F32, tensor.shape.clone(), bytes));
        if let Some(prefix) = name.strip_suffix("running_mean") {
            let counter = format!("{prefix}num_batches_tracked");
            raw.insert(
                counter,
                (Dtype::I64, Vec::new(), 0i64.to_le_bytes().to_vec()),
            );
        }
    }
    let views = raw
        .iter()
        .map(|(name, (dtype, shape, bytes))| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut metadata: HashMap<String, String> = metadata.iter().cloned().collect();
    metadata.insert("format".to_string(), "pt".to_string());
    safetensors::serialize(views, Some(metadata)).map_err(|e| e.to_string())
}
