//! Starting from trained weights (`train --init-from`): what matches by name and shape is
//! loaded exactly, a head for another class count starts fresh, a file for another network is
//! refused.

mod common;

use std::path::Path;

use assert_cmd::Command;
use burn::tensor::Device;
use inception::interop::{self, InteropError};
use inception::models::{ModelConfig, ModelKind};

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

#[test]
fn matching_tensors_load_exactly_and_a_head_of_another_class_count_stays_fresh() {
    let device = Device::flex();
    device.seed(1);
    let source = ModelConfig::new(ModelKind::Lenet).build(&device).unwrap();
    let dict = interop::state_dict(&source);
    let three = ["cat", "dog", "owl"].map(String::from).to_vec();
    let target = ModelConfig::new(ModelKind::Lenet)
        .with_names(three)
        .build(&device)
        .unwrap();
    let (loaded, report) = interop::load_matching(target, &dict, Path::new("lenet.pth")).unwrap();
    assert_eq!(report.loaded.len(), 6, "{report:?}");
    assert_eq!(report.fresh.len(), 2, "{report:?}");
    assert!(
        report.fresh[0].contains("[3, 128] (the file's is [10, 128])"),
        "{report:?}"
    );
    assert!(report.unused.is_empty());
    let after = interop::state_dict(&loaded);
    for name in &report.loaded {
        assert_eq!(after.tensors[name], dict.tensors[name], "{name}");
    }
    let summary = report.describe(Path::new("lenet.pth"));
    assert!(
        summary.starts_with("loaded 6 tensors from lenet.pth; left fresh (2): "),
        "{summary}"
    );

    // Weights of another network: nothing fits, which is an error, not a silent fresh start.
    let googlenet = ModelConfig::new(ModelKind::Googlenet)
        .build(&device)
        .unwrap();
    let lenet = ModelConfig::new(ModelKind::Lenet).build(&device).unwrap();
    let error = interop::load_matching(lenet, &interop::state_dict(&googlenet), Path::new("g.pth"))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(error, InteropError::NothingMatches { .. }));
    assert!(
        error
            .to_string()
            .contains("no tensor of g.pth fits the lenet model"),
        "{error}"
    );
}

#[test]
fn train_init_from_a_checkpoint_or_a_pth_says_what_it_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let short = "train --model lenet --epochs 1 --batch-size 64 --limit-train 640 --limit-test 100";
    let first = dir.path().join("first");
    inception()
        .args(short.split(' '))
        .arg("--out")
        .arg(&first)
        .assert()
        .success();
    let ckpt = first.join("model.ckpt");
    let out = inception()
        .args(short.split(' '))
        .arg("--init-from")
        .arg(&ckpt)
        .arg("--out")
        .arg(dir.path().join("second"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains(&format!("loaded 8 tensors from {}\n", ckpt.display())),
        "{stdout}"
    );
    // The run records where it started from.
    let meta =
        inception::train::checkpoint::read_meta(&dir.path().join("second/model.ckpt")).unwrap();
    assert_eq!(meta.training.unwrap().config.init_from, Some(ckpt.clone()));

    // PyTorch's own file for the same network.
    let pth = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity/lenet.pth");
    let out = inception()
        .args(short.split(' '))
        .arg("--init-from")
        .arg(&pth)
        .arg("--out")
        .arg(dir.path().join("third"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("loaded 8 tensors from"), "{stdout}");

    // A checkpoint of another network: one line, exit 2, nothing written.
    let nin_dir = dir.path().join("nin");
    let nin = ModelConfig::new(ModelKind::Nin)
        .build(&Device::flex())
        .unwrap();
    std::fs::create_dir(&nin_dir).unwrap();
    inception::train::checkpoint::save(&nin, &nin_dir.join("nin.ckpt")).unwrap();
    let refused = dir.path().join("refused");
    let out = inception()
        .args(short.split(' '))
        .arg("--init-from")
        .arg(nin_dir.join("nin.ckpt"))
        .arg("--out")
        .arg(&refused)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.starts_with("error: --init-from: no tensor of"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!refused.join("model.ckpt").exists());
}

#[test]
fn torchvisions_imagenet_googlenet_starts_a_ten_class_one_but_for_its_heads() {
    // What `--init-from googlenet-1378be20.pth --model googlenet-torchvision` does with
    // torchvision's ImageNet weights (same names; written here from a 1000-class model, as
    // this machine cannot download them): everything loads but the three classifiers' last
    // layers, which are 1000 wide in the file and 10 wide here.
    let device = Device::flex();
    let imagenet = ModelConfig::new(ModelKind::GooglenetTorchvision)
        .with_classes(1000)
        .build(&device)
        .unwrap();
    let dict = interop::state_dict(&imagenet);
    let ten = ModelConfig::new(ModelKind::GooglenetTorchvision)
        .build(&device)
        .unwrap();
    let total = interop::torch_names(&ten).len();
    let (_, report) = interop::load_matching(ten, &dict, Path::new("googlenet.pth")).unwrap();
    let mut fresh: Vec<&str> = report
        .fresh
        .iter()
        .map(|f| f.split(' ').next().unwrap())
        .collect();
    fresh.sort();
    assert_eq!(
        fresh,
        [
            "aux1.fc2.bias",
            "aux1.fc2.weight",
            "aux2.fc2.bias",
            "aux2.fc2.weight",
            "fc.bias",
            "fc.weight"
        ]
    );
    assert_eq!(report.loaded.len(), total - 6);
    assert!(report.unused.is_empty());
}

#[test]
fn torchvisions_imagenet_alexnet_and_vgg11_start_ten_class_networks_but_for_their_heads() {
    // `--net nets/alexnet-torchvision.toml --init-from alexnet-owt-7be5be79.pth` (and VGG-11's):
    // torchvision's names (tests/parity.rs checks the files against torchvision itself), the
    // 1000-class head left fresh.
    let device = Device::flex();
    // Five convolutions and three dense layers; eight and three.
    for (file, loaded) in [
        ("alexnet-torchvision.toml", 14),
        ("vgg11-torchvision.toml", 20),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("nets")
            .join(file);
        let config = ModelConfig::from_file(&path).unwrap();
        let imagenet = config.clone().with_classes(1000).build(&device).unwrap();
        let dict = interop::state_dict(&imagenet);
        let ten = config.build(&device).unwrap();
        let (_, report) = interop::load_matching(ten, &dict, Path::new("imagenet.pth")).unwrap();
        let fresh: Vec<&str> = report
            .fresh
            .iter()
            .map(|f| f.split(' ').next().unwrap())
            .collect();
        assert_eq!(
            fresh,
            ["classifier.6.weight", "classifier.6.bias"],
            "{file}"
        );
        assert_eq!(report.loaded.len(), loaded, "{file}: {:?}", report.loaded);
        assert!(report.unused.is_empty(), "{file}");
    }
}
