//! Parity with PyTorch: every zoo model (and the network files of torchvision's AlexNet and
//! VGG-11 in `nets/`), given the same weights under PyTorch's names, gives
//! the logits PyTorch computed (max relative error below 1e-4, float32, inference mode).
//!
//! The fixtures in `tests/fixtures/parity/` were written by `scripts/torch_zoo.py parity`: the
//! logits PyTorch gives for deterministic weights and input. The weights are not stored (a
//! GoogLeNet is 50 MB): both sides draw them from the same generator, by tensor name, so this
//! test also proves that every PyTorch name lands on the right tensor of our model. `lenet.pth`
//! and `lenet.safetensors` are real files written by PyTorch, read here without Python.
//! With INCEPTION_PARITY_FILES=DIR (the script sets it) every model is also imported from the
//! `.pth` and `.safetensors` files PyTorch wrote in DIR.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use inception::interop::{self, InteropError, StateDict, TorchTensor};
use inception::models::{Model, ModelConfig, ModelKind};

const TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

// ----------------------------------------------------------------- the shared generator

fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// `count` float32 values in [lo, hi): splitmix64 seeded by FNV-1a of `name` (as
/// `uniform` in scripts/torch_zoo.py, bit for bit).
fn uniform(name: &str, count: usize, lo: f64, hi: f64) -> Vec<f32> {
    let seed = fnv1a64(name);
    (1..=count as u64)
        .map(|i| {
            let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 11) as f64 * 2f64.powi(-53);
            (lo + (hi - lo) * u) as f32
        })
        .collect()
}

fn value_range(name: &str, shape: &[usize]) -> (f64, f64) {
    if name.ends_with("running_var") {
        (0.5, 1.5)
    } else if name.ends_with("running_mean") {
        (-0.5, 0.5)
    } else if shape.len() == 1 {
        if name.ends_with("weight") {
            (0.5, 1.5)
        } else {
            (-0.2, 0.2)
        }
    } else {
        let fan_in: usize = shape[1..].iter().product();
        let bound = (6.0 / fan_in as f64).sqrt();
        (-bound, bound)
    }
}

/// The state dict the script fills its PyTorch model with.
fn generated_state(model: &Model) -> StateDict {
    let mut dict = StateDict::default();
    for (name, shape) in interop::torch_names(model) {
        let (lo, hi) = value_range(&name, &shape);
        let values = uniform(&name, shape.iter().product(), lo, hi);
        dict.tensors.insert(name, TorchTensor { shape, values });
    }
    dict
}

// ----------------------------------------------------------------- fixtures

#[derive(serde::Deserialize)]
struct Fixture {
    model: String,
    classes: usize,
    input: [usize; 4],
    transform_input: bool,
    logits: Vec<Vec<f32>>,
    /// A network file (in the repository) instead of a zoo model.
    #[serde(default)]
    net: Option<String>,
}

fn fixture(name: &str) -> Fixture {
    let path = fixtures().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/torch_zoo.py parity)", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn kind(name: &str) -> ModelKind {
    *ModelKind::ALL
        .iter()
        .find(|k| k.name() == name)
        .unwrap_or_else(|| panic!("unknown model {name}"))
}

fn fresh_model(f: &Fixture) -> Model {
    let [_, c, h, w] = f.input;
    let config = match &f.net {
        Some(file) => {
            ModelConfig::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
        }
        None => ModelConfig::new(kind(&f.model)),
    };
    config
        .with_input([c, h, w])
        .with_classes(f.classes)
        .with_transform_input(f.transform_input)
        .build(&Device::flex())
        .unwrap()
}

fn logits(model: &Model, f: &Fixture) -> Vec<f32> {
    let count = f.input.iter().product();
    let input = TensorData::new(uniform("input", count, 0.0, 1.0), f.input);
    let x = Tensor::<4>::from_data(input, &Device::flex());
    let out = model.forward(x);
    assert_eq!(out.dims(), [f.input[0], f.classes]);
    out.into_data().try_to_vec::<f32>().unwrap()
}

/// max |ours - theirs| / max |theirs|
fn max_rel_error(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(theirs)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale.max(1e-30)
}

fn assert_parity(name: &str) {
    let f = fixture(name);
    let model = fresh_model(&f);
    let state = generated_state(&model);
    let model = interop::load_state_dict(model, &state, Path::new("generated")).unwrap();
    // What we export is exactly what was loaded.
    assert_eq!(
        interop::state_dict(&model),
        state,
        "{name}: export differs from import"
    );
    let theirs: Vec<f32> = f.logits.concat();
    let err = max_rel_error(&logits(&model, &f), &theirs);
    println!("{name:<22} max relative error vs PyTorch {err:.2e}");
    assert!(err < TOLERANCE, "{name}: max relative error {err:e}");
    // The real PyTorch files of this model, when the script made them.
    if let Some(dir) = std::env::var_os("INCEPTION_PARITY_FILES") {
        for ext in ["pth", "safetensors"] {
            let path = Path::new(&dir).join(format!("{name}.{ext}"));
            let read = interop::read_state_dict(&path).unwrap();
            assert_eq!(read, state, "{}: not the generated weights", path.display());
            let imported = interop::import(fresh_model(&f), &path).unwrap();
            let err = max_rel_error(&logits(&imported, &f), &theirs);
            println!("{name:<22} imported from {ext}: max relative error {err:.2e}");
            assert!(err < TOLERANCE);
        }
    }
}

macro_rules! parity_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                assert_parity($name);
            }
        )*
    };
}

parity_tests! {
    lenet_matches_pytorch => "lenet",
    alexnet_matches_pytorch => "alexnet",
    vgg11_matches_pytorch => "vgg11",
    vgg11_small_matches_pytorch => "vgg11-small",
    nin_matches_pytorch => "nin",
    googlenet_matches_pytorch => "googlenet",
    googlenet_bn_matches_pytorch => "googlenet-bn",
    googlenet_paper_matches_pytorch => "googlenet-paper",
    googlenet_torchvision_matches_torchvision => "googlenet-torchvision",
    alexnet_torchvision_file_matches_torchvision => "alexnet-torchvision",
    vgg11_torchvision_file_matches_torchvision => "vgg11-torchvision",
}

// ----------------------------------------------------------------- real PyTorch files

#[test]
fn reads_state_dicts_pytorch_wrote() {
    let f = fixture("lenet");
    let expected = generated_state(&fresh_model(&f));
    for file in ["lenet.pth", "lenet.safetensors"] {
        let path = fixtures().join(file);
        let read = interop::read_state_dict(&path).unwrap();
        assert_eq!(read, expected, "{file}");
        let model = interop::import(fresh_model(&f), &path).unwrap();
        let err = max_rel_error(&logits(&model, &f), &f.logits.concat());
        assert!(err < TOLERANCE, "{file}: {err:e}");
    }
}

#[test]
fn exported_safetensors_read_back_identically() {
    let f = fixture("googlenet-bn");
    let model = fresh_model(&f);
    let state = generated_state(&model);
    let model = interop::load_state_dict(model, &state, Path::new("generated")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("googlenet-bn.safetensors");
    interop::export_safetensors(&model, &path, &[]).unwrap();
    assert_eq!(interop::read_state_dict(&path).unwrap(), state);
    // PyTorch's batch norm also wants its counters.
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let counter = file.tensor("b1.0.bn.num_batches_tracked").unwrap();
    assert_eq!(counter.dtype(), safetensors::Dtype::I64);
}

// ----------------------------------------------------------------- errors

fn mismatch(model: Model, path: &Path) -> String {
    match interop::import(model, path) {
        Err(e @ InteropError::Mismatch { .. }) => e.to_string(),
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn weights_of_another_model_are_listed_not_loaded() {
    let nin = ModelConfig::new(ModelKind::Nin)
        .build(&Device::flex())
        .unwrap();
    let message = mismatch(nin, &fixtures().join("lenet.pth"));
    assert!(message.contains("does not fit the nin model"), "{message}");
    assert!(
        message.contains("missing: 0.0.weight [96, 1, 11, 11]"),
        "{message}"
    );
    assert!(
        message.contains("unexpected: 0.weight [20, 1, 5, 5]"),
        "{message}"
    );
}

#[test]
fn wrong_shapes_are_named() {
    // LeNet with 5 classes cannot take the 10-class weights.
    let lenet = ModelConfig::new(ModelKind::Lenet)
        .with_classes(5)
        .build(&Device::flex())
        .unwrap();
    let message = mismatch(lenet, &fixtures().join("lenet.safetensors"));
    assert!(
        message
            .contains("wrong shape: 6.weight is [10, 128] in the file, the model needs [5, 128]"),
        "{message}"
    );
    assert!(message.contains("wrong shape: 6.bias is [10]"), "{message}");
}

#[test]
fn damaged_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["lenet.pth", "lenet.safetensors"] {
        let bytes = std::fs::read(fixtures().join(file)).unwrap();
        let cut = dir.path().join(file);
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let lenet = ModelConfig::new(ModelKind::Lenet)
            .build(&Device::flex())
            .unwrap();
        let error = interop::import(lenet, &cut).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, InteropError::Read { .. }), "{message}");
        assert!(message.contains(&cut.display().to_string()), "{message}");
    }
    let text = dir.path().join("notes.pth");
    std::fs::write(&text, "not a checkpoint").unwrap();
    let lenet = ModelConfig::new(ModelKind::Lenet)
        .build(&Device::flex())
        .unwrap();
    assert!(matches!(
        interop::import(lenet, &text),
        Err(InteropError::Read { .. })
    ));
}
