//! ONNX export: every zoo model's inference graph, run by a real client (the `onnx` checker
//! and ONNX Runtime, through `scripts/onnx_run.py`), gives our logits; the graph holds only
//! inference (no dropout, no auxiliary heads, batch norm folded); the user's own layers export
//! through `Layer::to_onnx` or are named when they cannot; bad input writes nothing.
//!
//! ONNX Runtime comes from PyPI: `.ci/run` installs `onnx`, `onnxruntime` and `numpy` in a
//! virtual environment and names its Python in `INCEPTION_ONNX_PYTHON`. Elsewhere the tests
//! that need it look for `python3` with those packages and say they are skipped without them;
//! under CI (`CI` set) they fail instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as Binary;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use inception::data::{network_input, FashionMnist, ResizeMode, Split};
use inception::models::{Model, ModelConfig, ModelKind};
use inception::nn::{
    ConvConfig, DenseConfig, Features, Flatten, Forward, Init, Layer, SequentialSpec, Shape,
};
use inception::onnx::{Attr, OnnxError, OnnxGraph, OnnxValue};
use onnx_protobuf::{Message, ModelProto};
use rand::{Rng, SeedableRng};

/// The Python that has `onnx` and `onnxruntime`, or `None` (said on stderr) outside CI.
fn onnx_python() -> Option<PathBuf> {
    let python = std::env::var_os("INCEPTION_ONNX_PYTHON").map_or("python3".into(), PathBuf::from);
    let found = Command::new(&python)
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .output()
        .is_ok_and(|out| out.status.success());
    if found {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI checks the export with ONNX Runtime, but {} cannot import onnx, onnxruntime and numpy (.ci/run installs them and sets INCEPTION_ONNX_PYTHON)",
        python.display()
    );
    eprintln!(
        "skipped: no Python with onnx and onnxruntime (`pip install onnx onnxruntime numpy`, then INCEPTION_ONNX_PYTHON=that python)"
    );
    None
}

/// What ONNX Runtime computed for `x` of `shape`, with what the script saw of the model.
fn run_onnx(
    python: &Path,
    model: &Path,
    x: &[f32],
    shape: [usize; 4],
) -> (Vec<f32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("x.f32"), dir.path().join("y.f32"));
    std::fs::write(
        &input,
        x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/onnx_run.py");
    let out = Command::new(python)
        .arg(script)
        .arg(model)
        .arg(&input)
        .args(shape.map(|d| d.to_string()))
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "onnx_run.py failed on {}:\n{}",
        model.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let logits = std::fs::read(&output)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let report = serde_json::from_slice(&out.stdout).unwrap();
    (logits, report)
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap()
}

/// Three images for `input`: real Fashion-MNIST test images for gray networks (resized as
/// training resizes), seeded random ImageNet-sized ones for colour networks.
fn three_images(input: [usize; 3]) -> Vec<f32> {
    let [c, h, _] = input;
    if c == 3 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        return (0..3 * c * h * h).map(|_| rng.random::<f32>()).collect();
    }
    let test = FashionMnist::load(&common::fashion_mnist_dir(), Split::Test).unwrap();
    (0..3)
        .flat_map(|i| network_input(&test.get(i).unwrap(), h, ResizeMode::default(), c, true))
        .collect()
}

/// `kind` with seeded weights and, after one batch in training mode, batch-norm running
/// statistics that are not the initial zeros and ones (so folding them is tested).
fn zoo_model(kind: ModelKind, images: &[f32]) -> Model {
    let device = Device::flex();
    device.seed(17);
    let train_device = device.clone().autodiff();
    let model = ModelConfig::new(kind).build(&train_device).unwrap();
    let [c, h, w] = model.config.input;
    let x = Tensor::<4>::from_data(
        TensorData::new(images.to_vec(), [3, c, h, w]),
        &train_device,
    );
    let _ = model.forward_train(x);
    model.valid()
}

fn logits_of(model: &Model, images: &[f32]) -> Vec<f32> {
    let [c, h, w] = model.config.input;
    let x = Tensor::<4>::from_data(
        TensorData::new(images.to_vec(), [3, c, h, w]),
        &Device::flex(),
    );
    model.forward(x).into_data().try_to_vec::<f32>().unwrap()
}

fn read_model(path: &Path) -> ModelProto {
    ModelProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

fn ops(model: &ModelProto, op: &str) -> usize {
    model.graph.node.iter().filter(|n| n.op_type == op).count()
}

fn metadata<'a>(model: &'a ModelProto, key: &str) -> Option<&'a str> {
    model
        .metadata_props
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

#[test]
fn every_zoo_model_gives_our_logits_in_onnx_runtime() {
    let Some(python) = onnx_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for kind in ModelKind::ALL {
        let input = kind.default_input();
        let images = three_images(input);
        let model = zoo_model(kind, &images);
        let path = dir.path().join(format!("{}.onnx", kind.name()));
        model.export_onnx(&path).unwrap();
        let [c, h, w] = input;
        let (theirs, report) = run_onnx(&python, &path, &images, [3, c, h, w]);
        let ours = logits_of(&model, &images);
        let classes = model.config.num_classes;
        let error = common::relative_error(&ours, &theirs);
        println!("{}: relative error {error:.2e} ({report})", kind.name());
        assert!(
            error < 1e-4,
            "{}: ONNX Runtime's logits differ by {error:e}",
            kind.name()
        );
        for (a, b) in ours.chunks(classes).zip(theirs.chunks(classes)) {
            assert_eq!(argmax(a), argmax(b), "{}: another top class", kind.name());
        }
        assert_eq!(report["opset"], 17);
        assert_eq!(
            report["inputs"]["images"],
            serde_json::json!(["batch", c, h, w])
        );
        assert_eq!(
            report["outputs"]["logits"],
            serde_json::json!(["batch", classes])
        );
        assert_eq!(report["output_shape"], serde_json::json!([3, classes]));
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn the_graph_is_the_inference_graph_with_its_metadata() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    // The paper's GoogLeNet: its main path's convolutions and one dense layer; the two
    // auxiliary heads (a convolution and two dense layers each) and dropout left out.
    let paper = ModelConfig::new(ModelKind::GooglenetPaper)
        .build(&device)
        .unwrap();
    let params = paper.named_params();
    let main_convs = params
        .iter()
        .filter(|p| p.shape.len() == 4 && !p.name.starts_with("aux"))
        .count();
    let aux_convs = params
        .iter()
        .filter(|p| p.shape.len() == 4 && p.name.starts_with("aux"))
        .count();
    assert_eq!((main_convs, aux_convs), (56, 2));
    let path = dir.path().join("paper.onnx");
    let written = paper.export_onnx(&path).unwrap();
    assert!(written.external_data.is_none());
    let onnx = read_model(&path);
    assert_eq!(onnx.opset_import[0].version, 17);
    assert_eq!((ops(&onnx, "Conv"), ops(&onnx, "Gemm")), (main_convs, 1));
    for op in ["Dropout", "BatchNormalization"] {
        assert_eq!(ops(&onnx, op), 0, "{op} in the inference graph");
    }
    let weights: usize = onnx
        .graph
        .initializer
        .iter()
        .map(|t| t.dims.iter().product::<i64>() as usize)
        .sum();
    let main_path: usize = paper
        .named_params()
        .iter()
        .filter(|p| !p.name.starts_with("aux"))
        .filter(|p| !p.name.ends_with("bn.gamma") && !p.name.ends_with("bn.beta"))
        .map(|p| p.count())
        .sum();
    // Batch norm folded into each conv block's weight and bias; nothing of the heads.
    assert_eq!(
        weights, main_path,
        "the weights of the main path, nothing else"
    );
    let classes: Vec<String> =
        serde_json::from_str(metadata(&onnx, "inception.classes").unwrap()).unwrap();
    assert_eq!(classes, paper.config.class_names());
    assert_eq!(metadata(&onnx, "inception.input"), Some("[3,224,224]"));
    assert!(metadata(&onnx, "inception.preprocessing")
        .unwrap()
        .contains("[0, 1]"));

    // torchvision's GoogLeNet keeps `transform_input`: a per-channel multiply and add.
    let torchvision = ModelConfig::new(ModelKind::GooglenetTorchvision)
        .build(&device)
        .unwrap();
    torchvision.export_onnx(&path).unwrap();
    let onnx = read_model(&path);
    assert_eq!((ops(&onnx, "Mul"), ops(&onnx, "Add")), (1, 1));
    let convs = torchvision
        .named_params()
        .iter()
        .filter(|p| p.shape.len() == 4 && !p.name.starts_with("aux"))
        .count();
    assert_eq!(ops(&onnx, "Conv"), convs);
}

#[test]
fn a_stored_normalization_is_inside_the_graph_and_named_in_the_metadata() {
    let Some(python) = onnx_python() else { return };
    let device = Device::flex();
    device.seed(5);
    let normalize = inception::models::Normalize::new(vec![0.2860], vec![0.3530], 1).unwrap();
    let model = ModelConfig::new(ModelKind::Lenet)
        .with_normalize(Some(normalize))
        .build(&device)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lenet.onnx");
    model.export_onnx(&path).unwrap();
    let onnx = read_model(&path);
    assert_eq!((ops(&onnx, "Sub"), ops(&onnx, "Div")), (1, 1));
    let stored: serde_json::Value =
        serde_json::from_str(metadata(&onnx, "inception.normalize").unwrap()).unwrap();
    assert_eq!(stored["mean"][0].as_f64().unwrap() as f32, 0.2860);
    assert_eq!(stored["std"][0].as_f64().unwrap() as f32, 0.3530);
    let images = three_images([1, 28, 28]);
    let (theirs, _) = run_onnx(&python, &path, &images, [3, 1, 28, 28]);
    assert!(common::relative_error(&logits_of(&model, &images), &theirs) < 1e-4);
}

#[test]
fn weights_past_the_limit_go_to_a_side_file_that_onnx_runtime_reads() {
    let device = Device::flex();
    device.seed(9);
    let model = ModelConfig::new(ModelKind::Lenet).build(&device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lenet.onnx");
    let written = model.export_onnx_with(&path, 0).unwrap();
    assert_eq!(
        written.external_data,
        Some(dir.path().join("lenet.onnx.data"))
    );
    let onnx = read_model(&path);
    let external = onnx
        .graph
        .initializer
        .iter()
        .filter(|t| {
            t.external_data
                .iter()
                .any(|e| e.key == "location" && e.value == "lenet.onnx.data")
        })
        .count();
    assert!(external >= 4, "the large tensors are outside: {external}");
    if let Some(python) = onnx_python() {
        let images = three_images([1, 28, 28]);
        let (theirs, _) = run_onnx(&python, &path, &images, [3, 1, 28, 28]);
        assert!(common::relative_error(&logits_of(&model, &images), &theirs) < 1e-4);
    }
}

/// Article 002's `CenteredLayer` without an ONNX form.
#[derive(Module, Debug, Default)]
struct Centered;

impl Layer for Centered {
    fn forward(&self, x: Features, _ctx: &mut Forward) -> Features {
        x.map(
            |t| t.clone() - t.mean().unsqueeze(),
            |t| t.clone() - t.mean().unsqueeze(),
        )
    }
    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }
    fn describe(&self) -> String {
        "Centered()".into()
    }
}

/// The same layer with its ONNX form: the mean of the whole batch, subtracted.
#[derive(Module, Debug, Default)]
struct ExportableCentered;

impl Layer for ExportableCentered {
    fn forward(&self, x: Features, ctx: &mut Forward) -> Features {
        Centered.forward(x, ctx)
    }
    fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }
    fn describe(&self) -> String {
        "ExportableCentered()".into()
    }
    fn to_onnx(&self, x: OnnxValue, graph: &mut OnnxGraph) -> Result<OnnxValue, String> {
        let mean = graph.node("ReduceMean", &[&x.name], &[("keepdims", Attr::Int(0))]);
        let y = graph.node("Sub", &[&x.name, &mean], &[]);
        Ok(x.with(y, x.shape.clone()))
    }
}

fn network_with<L: Layer + Clone>(layer: L) -> Model {
    let features = SequentialSpec::new()
        .add(ConvConfig::new(4, 3).relu())
        .add_built(layer);
    let spec = SequentialSpec::new()
        .add_named("features", features)
        .add(Flatten {})
        .add(DenseConfig::new(10));
    let device = Device::flex();
    device.seed(2);
    let (body, _) = spec
        .build_network(&vec![1, 28, 28], Init::XavierUniform, &device, 10)
        .unwrap();
    Model {
        body,
        config: ModelConfig::rust_network("centered", [1, 28, 28], 10),
    }
}

#[test]
fn the_users_own_layer_exports_through_to_onnx_or_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.onnx");
    let error = network_with(Centered).export_onnx(&path).unwrap_err();
    assert!(matches!(&error, OnnxError::Layer { layer, .. } if layer == "features.1"));
    let message = error.to_string();
    assert!(message.contains("`features.1` (Centered())"), "{message}");
    assert!(message.contains("to_onnx"), "{message}");
    assert!(!path.exists(), "nothing written");
    // What the user can fix: the command line exits with 2.
    assert_eq!(inception::cli::exit_code(&anyhow::Error::new(error)), 2);

    let model = network_with(ExportableCentered);
    model.export_onnx(&path).unwrap();
    if let Some(python) = onnx_python() {
        let images = three_images([1, 28, 28]);
        let (theirs, _) = run_onnx(&python, &path, &images, [3, 1, 28, 28]);
        assert!(common::relative_error(&logits_of(&model, &images), &theirs) < 1e-4);
    }
}

/// `inception export --format onnx --checkpoint CKPT --out OUT`.
fn export_onnx(checkpoint: &Path, out: &Path) -> assert_cmd::assert::Assert {
    Binary::cargo_bin("inception")
        .unwrap()
        .args(["export", "--format", "onnx", "--checkpoint"])
        .arg(checkpoint)
        .arg("--out")
        .arg(out)
        .assert()
}

#[test]
fn export_format_onnx_writes_the_file_or_says_why_not_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("lenet.ckpt");
    let device = Device::flex();
    let model = ModelConfig::new(ModelKind::Lenet).build(&device).unwrap();
    inception::train::checkpoint::save(&model, &ckpt).unwrap();
    let out = dir.path().join("lenet.onnx");
    let assert = export_onnx(&ckpt, &out).success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("as ONNX (opset 17"), "{stdout}");
    assert!(
        stdout.contains("input `images` float32 [batch, 1, 28, 28]"),
        "{stdout}"
    );
    assert_eq!(read_model(&out).graph.output[0].name, "logits");

    // A file that is not a checkpoint.
    let bogus = dir.path().join("notes.ckpt");
    std::fs::write(&bogus, "not a checkpoint").unwrap();
    let bad_out = dir.path().join("bogus.onnx");
    let assert = export_onnx(&bogus, &bad_out).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("notes.ckpt"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!bad_out.exists());

    // An output in a directory that does not exist.
    let missing = dir.path().join("no/such/dir/lenet.onnx");
    let assert = export_onnx(&ckpt, &missing).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("no/such/dir/lenet.onnx"), "{stderr}");
    assert!(stderr.contains("directory exists"), "{stderr}");
    assert!(!dir.path().join("no").exists());
    // A directory nobody may write in (even root cannot create files in /proc).
    let assert = export_onnx(&ckpt, Path::new("/proc/lenet.onnx")).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("cannot write /proc/lenet.onnx"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Nothing but the checkpoint, the exported file and the bogus one: no temporary files.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["lenet.ckpt", "lenet.onnx", "notes.ckpt"]);
}

/// Every built-in layer in one network file, with the corner cases of their ONNX forms: batch
/// norm folded and standalone, ceil-mode pooling whose last window would start in the padding
/// (PyTorch drops it), adaptive pooling whose size does not divide the input, a layer placed
/// twice (its weights stored once), an auxiliary head left out.
const EVERY_LAYER: &str = r#"
name = "every-layer"
input = [3, 18, 18]
classes = 7
layers = [
  { type = "transform_input" },
  { type = "conv", channels = 8, kernel = 3, padding = 1, batch_norm = true, activation = "relu" },
  { type = "batch_norm" },
  { type = "sigmoid" },
  { type = "max_pool", kernel = 3, stride = 2, ceil_mode = true },
  { type = "avg_pool", kernel = 2, stride = 2, padding = 1, ceil_mode = true },
  { type = "inception", c1 = 4, c2 = [4, 6], c3 = [2, 3], c4 = 3, conv = "conv_block" },
  { type = "aux_classifier", layers = [
    { type = "global_avg_pool" },
    { type = "flatten" },
    { type = "dense", units = "classes" },
  ] },
  { type = "adaptive_avg_pool", size = 3 },
  { type = "relu" },
  { type = "identity" },
  { type = "flatten" },
  { type = "dense", units = 16, activation = "relu" },
  { name = "hidden", type = "dense", units = 16, activation = "relu" },
  { name = "again", share = "hidden" },
  { type = "dropout", p = 0.5 },
  { type = "dense", units = "classes" },
]
"#;

#[test]
fn a_network_file_of_every_built_in_layer_gives_our_logits_in_onnx_runtime() {
    let config = ModelConfig::from_text(EVERY_LAYER, "every-layer.toml", "every-layer").unwrap();
    let device = Device::flex();
    device.seed(23);
    let images = three_images([3, 18, 18]);
    let train_device = device.clone().autodiff();
    let model = config.build(&train_device).unwrap();
    let x = Tensor::<4>::from_data(
        TensorData::new(images.clone(), [3, 3, 18, 18]),
        &train_device,
    );
    let _ = model.forward_train(x);
    let model = model.valid();
    let shapes: Vec<Vec<usize>> = model.layers().iter().map(|row| row.shape.clone()).collect();
    // The ceil-mode poolings: 18 -> 9 (max, kernel 3, stride 2) -> 5 (avg: a sixth window
    // would start in the padding).
    assert!(
        shapes.contains(&vec![1, 8, 9, 9]) && shapes.contains(&vec![1, 8, 5, 5]),
        "{shapes:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("every-layer.onnx");
    model.export_onnx(&path).unwrap();
    let onnx = read_model(&path);
    let gemm_weights = onnx
        .graph
        .node
        .iter()
        .filter(|n| n.op_type == "Gemm")
        .map(|n| n.input[1].clone())
        .collect::<Vec<_>>();
    assert_eq!(gemm_weights.len(), 4);
    assert_eq!(
        gemm_weights[1], gemm_weights[2],
        "the shared layer's weights, stored once"
    );
    assert_eq!(
        ops(&onnx, "BatchNormalization"),
        1,
        "the standalone batch norm"
    );
    if let Some(python) = onnx_python() {
        let (theirs, _) = run_onnx(&python, &path, &images, [3, 3, 18, 18]);
        let error = common::relative_error(&logits_of(&model, &images), &theirs);
        assert!(error < 1e-4, "relative error {error:e}");
    }
}
