//! `inception import`, `export` and `predict` with an ImageNet model, through the binary.

use std::path::Path;

use assert_cmd::Command;
use burn::tensor::Device;
use inception::interop::{self, StateDict, TorchTensor};
use inception::models::{ModelConfig, ModelKind};
use predicates::prelude::*;

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

fn lenet_pth() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity/lenet.pth")
}

#[test]
fn import_then_export_gives_back_the_pytorch_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("lenet.ckpt");
    inception()
        .args(["import", "--model", "lenet", "--from"])
        .arg(lenet_pth())
        .arg("--out")
        .arg(&ckpt)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "imported 8 tensors (170988 parameters)",
        ));
    // The checkpoint knows its classes were read off the file, and its labels.
    let meta = inception::train::checkpoint::read_meta(&ckpt).unwrap();
    assert_eq!(meta.model.num_classes, 10);
    assert_eq!(meta.model.labels, inception::models::Labels::FashionMnist);
    let exported = dir.path().join("lenet.safetensors");
    inception()
        .args(["export", "--checkpoint"])
        .arg(&ckpt)
        .arg("--out")
        .arg(&exported)
        .assert()
        .success();
    assert_eq!(
        interop::read_state_dict(&exported).unwrap(),
        interop::read_state_dict(&lenet_pth()).unwrap()
    );
    // What a program needs to feed it, in the header: input, resizing, normalization, classes.
    let bytes = std::fs::read(&exported).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap();
    let get = |key: &str| metadata.get(key).map(String::as_str);
    assert_eq!(get("format"), Some("pt"));
    assert_eq!(get("inception.model"), Some("\"lenet\""));
    assert_eq!(get("inception.input"), Some("[1,28,28]"));
    assert_eq!(get("inception.resize_mode"), Some("\"crop\""));
    assert_eq!(get("inception.normalize"), Some("null"));
    let classes: Vec<String> = serde_json::from_str(get("inception.classes").unwrap()).unwrap();
    assert_eq!(classes, inception::data::CLASS_NAMES);
}

#[test]
fn import_of_the_wrong_model_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("nin.ckpt");
    inception()
        .args(["import", "--model", "nin", "--classes", "10", "--from"])
        .arg(lenet_pth())
        .arg("--out")
        .arg(&ckpt)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("does not fit the nin model")
                .and(predicate::str::contains(
                    "unexpected: 0.weight [20, 1, 5, 5]",
                ))
                .and(predicate::str::contains("panicked").not()),
        );
    assert!(!ckpt.exists());
    // Without --classes the class count cannot even be read off.
    inception()
        .args(["import", "--model", "googlenet", "--from"])
        .arg(lenet_pth())
        .arg("--out")
        .arg(&ckpt)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "has no classifier bias `dense.bias` as a googlenet model would",
        ));
    inception()
        .args([
            "import",
            "--model",
            "lenet",
            "--from",
            "/nonexistent/w.pth",
            "--out",
        ])
        .arg(&ckpt)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read /nonexistent/w.pth as PyTorch weights",
        ));
    assert!(!ckpt.exists());
}

/// A torchvision GoogLeNet state dict with 1000 classes (all weights a small constant pattern),
/// as safetensors: what a user gets from torchvision, without the download.
fn torchvision_googlenet(path: &Path) {
    let model = ModelConfig::new(ModelKind::GooglenetTorchvision)
        .with_classes(1000)
        .build(&Device::flex())
        .unwrap();
    let mut dict = StateDict::default();
    for (i, (name, shape)) in interop::torch_names(&model).into_iter().enumerate() {
        let count: usize = shape.iter().product();
        let fill = if name.ends_with("running_var") {
            1.0
        } else {
            0.01
        };
        let values = (0..count)
            .map(|j| fill * (1.0 + ((i * 31 + j * 7) % 13) as f32 / 13.0))
            .collect();
        dict.tensors.insert(name, TorchTensor { shape, values });
    }
    let model = interop::load_state_dict(model, &dict, path).unwrap();
    interop::export_safetensors(&model, path, &[]).unwrap();
}

#[test]
fn an_imported_imagenet_googlenet_names_its_top_5() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("googlenet.safetensors");
    torchvision_googlenet(&weights);
    let ckpt = dir.path().join("googlenet.ckpt");
    inception()
        .args(["import", "--model", "googlenet-torchvision", "--from"])
        .arg(&weights)
        .arg("--out")
        .arg(&ckpt)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "googlenet-torchvision model with 1000 classes (imagenet labels, input 3x224x224)",
        ));
    let meta = inception::train::checkpoint::read_meta(&ckpt).unwrap();
    assert!(meta.model.transform_input());
    // A colour photo-sized image.
    let photo = dir.path().join("photo.png");
    image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([x as u8, y as u8, 128]))
        .save(&photo)
        .unwrap();
    let out = inception()
        .args(["predict", "--checkpoint"])
        .arg(&ckpt)
        .arg(&photo)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap();
    // Five ImageNet classes with their probabilities.
    let shown = line.split(", ").count();
    assert_eq!(shown, 5, "{line}");
    let names: Vec<&str> = (0..1000)
        .filter_map(inception::interop::imagenet::class_name)
        .collect();
    let first = line.split(": ").nth(1).unwrap().split(" (").next().unwrap();
    assert!(names.contains(&first), "{line}");
}
