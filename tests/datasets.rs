//! The built-in data sets besides Fashion-MNIST: CIFAR-10 (binary records, RGB) and MNIST (IDX
//! files), read, batched, trained on from the command line, and refused clearly when broken.
//! No download: the tests write the files themselves, from real Fashion-MNIST images.

mod common;

use std::path::Path;

use assert_cmd::Command;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use inception::data::builtin::{CIFAR10_FILES, CIFAR10_FOLDER};
use inception::data::cifar::encode_records;
use inception::data::locate::{unpack_cifar10, SearchPlan};
use inception::data::{
    data_loader, BuiltinSet, DataSplit, FashionMnist, ImageDataset, LoaderOptions, ResizeMode,
    Split,
};
use predicates::prelude::*;

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

/// One real Fashion-MNIST image made a CIFAR-10 image: centred in 32x32, the garment in red,
/// its negative in green, a quarter of it over 60 in blue (so the three planes can be told
/// apart).
fn cifar_image(gray: &[u8]) -> Vec<u8> {
    let mut planes = vec![0u8; 3 * 1024];
    for y in 0..28 {
        for x in 0..28 {
            let v = gray[y * 28 + x];
            let p = (y + 2) * 32 + x + 2;
            planes[p] = v;
            planes[1024 + p] = 255 - v;
            planes[2048 + p] = 60 + v / 4;
        }
    }
    planes
}

/// CIFAR-10 files of real images in `dir/cifar-10-batches-bin`: `per_file` training records
/// in each of the five training files, `test` test records.
fn write_cifar(dir: &Path, per_file: usize, test: usize) -> Vec<Vec<u8>> {
    let fashion = common::fashion_mnist_dir();
    let train = FashionMnist::load(&fashion, Split::Train).unwrap();
    let folder = dir.join(CIFAR10_FOLDER);
    std::fs::create_dir_all(&folder).unwrap();
    let mut written = Vec::new();
    for (f, name) in CIFAR10_FILES.iter().enumerate() {
        let count = if f < 5 { per_file } else { test };
        let first = if f < 5 { f * per_file } else { 5 * per_file };
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for i in first..first + count {
            let item = train.get(i).unwrap();
            images.push(cifar_image(&item.pixels));
            labels.push(item.label as u8);
        }
        std::fs::write(folder.join(name), encode_records(&images, &labels)).unwrap();
        written.extend(images);
    }
    written
}

#[test]
fn cifar10_records_read_back_as_rgb_and_batch_to_any_channels() {
    let dir = tempfile::tempdir().unwrap();
    let images = write_cifar(dir.path(), 4, 6);
    // Found in the archive's folder as well as in the folder itself.
    let found = BuiltinSet::Cifar10.files_in(dir.path()).unwrap();
    assert_eq!(found, dir.path().join(CIFAR10_FOLDER));
    assert_eq!(BuiltinSet::Cifar10.files_in(&found), Some(found.clone()));
    let train = DataSplit::load(BuiltinSet::Cifar10, &found, Split::Train).unwrap();
    let test = DataSplit::load(BuiltinSet::Cifar10, &found, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (20, 6));
    assert_eq!(
        DataSplit::count(BuiltinSet::Cifar10, &found, Split::Train).unwrap(),
        20
    );
    assert_eq!(
        (train.name(), train.channels()),
        ("CIFAR-10".to_string(), 3)
    );
    assert_eq!(train.class_names()[0], "airplane");
    // Image 5 is the second file's first record: planes interleaved per pixel.
    let item = train.get(5).unwrap();
    assert_eq!((item.rows, item.cols, item.channels), (32, 32, 3));
    let p = 10 * 32 + 12;
    assert_eq!(
        &item.pixels[3 * p..3 * p + 3],
        &[images[5][p], images[5][1024 + p], images[5][2048 + p]]
    );

    // Batched for a colour network: the planes as they were, over 255.
    let device = Device::flex();
    let rgb = data_loader(
        &train,
        &LoaderOptions::evaluation([3, 32, 32], ResizeMode::Crop, 8, None),
        &device,
    );
    let batch = rgb.iter().next().unwrap().unwrap();
    assert_eq!(batch.images.dims(), [8, 3, 32, 32]);
    let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
    for c in 0..3 {
        assert_eq!(
            values[c * 1024 + p],
            f32::from(images[0][c * 1024 + p]) / 255.0
        );
    }
    // For a gray network: torchvision's luma of the three planes.
    let gray = data_loader(
        &train,
        &LoaderOptions::evaluation([1, 32, 32], ResizeMode::Crop, 8, None),
        &device,
    );
    let values = gray
        .iter()
        .next()
        .unwrap()
        .unwrap()
        .images
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let [r, g, b] = [0, 1024, 2048].map(|o| f32::from(images[0][o + p]) / 255.0);
    assert!((values[p] - (0.2989 * r + 0.587 * g + 0.114 * b)).abs() < 1e-6);
}

#[test]
fn cifar10_trains_evaluates_and_predicts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path(), 400, 300);
    let out = tempfile::tempdir().unwrap();
    // LeNet takes the set's own 3x32x32 images without being told; its input is normalized
    // with the training images' own statistics, which the checkpoint keeps for eval.
    let train = inception()
        .args([
            "train",
            "--model",
            "lenet",
            "--dataset",
            "cifar10",
            "--no-download",
            "--normalize",
            "auto",
        ])
        .args([
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--optimizer",
            "adam",
            "--lr",
            "0.002",
        ])
        .arg("--data")
        .arg(dir.path())
        .arg("--out")
        .arg(out.path())
        .assert()
        .success()
        .stdout(
            predicate::str::contains("training lenet on CIFAR-10 from")
                .and(predicate::str::contains(
                    "(2000 train / 300 test images), input 3x32x32",
                ))
                .and(
                    predicate::str::is_match(
                        r"input normalization: mean \[0\.\d{4}, 0\.\d{4}, 0\.\d{4}\], std \[0\.\d{4}, 0\.\d{4}, 0\.\d{4}\]",
                    )
                    .unwrap(),
                ),
        );
    let stdout = String::from_utf8(train.get_output().stdout.clone()).unwrap();
    let line = stdout.lines().find(|l| l.starts_with("epoch 1")).unwrap();
    let acc: f64 = line.split("test acc ").nth(1).unwrap()[..5]
        .parse()
        .unwrap();
    // Real garments, ten classes: chance is 0.1.
    eprintln!("{line}");
    assert!(acc > 0.4, "{line}");

    // The checkpoint knows its data set: eval finds CIFAR-10's files with --data alone and
    // names its classes.
    let ckpt = out.path().join("model.ckpt");
    inception()
        .args(["eval", "--no-download", "--batch-size", "50", "--data"])
        .arg(dir.path())
        .arg("--checkpoint")
        .arg(&ckpt)
        .assert()
        .success()
        // The same accuracy as the run's own test pass: the model normalized its input again.
        .stdout(
            predicate::str::contains(format!("test acc {acc:.3}, top-5 "))
                .and(predicate::str::contains("(300 images"))
                .and(predicate::str::contains("airplane")),
        );
    let image = out.path().join("photo.png");
    image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])
    })
    .save(&image)
    .unwrap();
    let cifar_class = "(airplane|automobile|bird|cat|deer|dog|frog|horse|ship|truck)";
    inception()
        .args(["predict", "--checkpoint"])
        .arg(&ckpt)
        .arg(&image)
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(format!(r"photo\.png: {cifar_class} \(\d+\.\d%\)")).unwrap(),
        );
}

#[test]
fn mnist_reads_idx_files_under_its_own_name_and_classes() {
    // MNIST's files have Fashion-MNIST's format and names: the real Fashion-MNIST files
    // stand in for them.
    let fashion = common::fashion_mnist_dir();
    let mnist = DataSplit::load(BuiltinSet::Mnist, &fashion, Split::Test).unwrap();
    assert_eq!((mnist.name(), mnist.len()), ("MNIST".to_string(), 10_000));
    assert_eq!(mnist.class_names()[7], "7");
    let out = tempfile::tempdir().unwrap();
    inception()
        .args([
            "train",
            "--model",
            "lenet",
            "--dataset",
            "mnist",
            "--no-download",
        ])
        .args([
            "--epochs",
            "1",
            "--limit-train",
            "64",
            "--limit-test",
            "32",
            "--batch-size",
            "32",
        ])
        .arg("--data")
        .arg(&fashion)
        .arg("--out")
        .arg(out.path())
        .assert()
        .success()
        .stdout(
            predicate::str::contains("training lenet on MNIST from")
                .and(predicate::str::contains("input 1x28x28")),
        );
}

#[test]
fn broken_or_missing_cifar10_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(dir.path(), 2, 2);
    let folder = dir.path().join(CIFAR10_FOLDER);
    // A cut record names the file and says what to do.
    let batch = folder.join("data_batch_3.bin");
    let bytes = std::fs::read(&batch).unwrap();
    std::fs::write(&batch, &bytes[..bytes.len() - 10]).unwrap();
    inception()
        .args([
            "train",
            "--dataset",
            "cifar10",
            "--no-download",
            "--epochs",
            "1",
            "--data",
        ])
        .arg(&folder)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("data_batch_3.bin")
                .and(predicate::str::contains("not a whole number of 3073-byte"))
                .and(predicate::str::contains("download it again")),
        );
    // A folder without the files: what was expected, in the flag's words.
    let empty = tempfile::tempdir().unwrap();
    inception()
        .args(["train", "--dataset", "cifar10", "--no-download", "--data"])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no CIFAR-10 files in")
                .and(predicate::str::contains("--data"))
                .and(predicate::str::contains("test_batch.bin")),
        );
    std::fs::write(&batch, &bytes).unwrap();
    // Normalization values that cannot be.
    for (value, message) in [
        ("0.5", "give as many means as standard deviations"),
        ("0.5,0", "positive standard deviations"),
        ("0.1,0.2,0.3,0.4", "one of each per channel (3)"),
        ("mean", "is not none, auto, MEAN,STD"),
    ] {
        inception()
            .args([
                "train",
                "--dataset",
                "cifar10",
                "--no-download",
                "--normalize",
                value,
            ])
            .arg("--data")
            .arg(&folder)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    // Colour images cannot feed a two-channel network.
    inception()
        .args([
            "train",
            "--dataset",
            "cifar10",
            "--channels",
            "2",
            "--no-download",
            "--data",
        ])
        .arg(&folder)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--channels 2 with CIFAR-10"));
}

/// A `.tar.gz` holding CIFAR-10's six files under the archive's folder, plus a file that must
/// not be unpacked.
fn cifar_archive(path: &Path) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let record = encode_records(&[vec![7u8; 3072]], &[4]);
    let mut add = |name: String, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes).unwrap();
    };
    for name in CIFAR10_FILES {
        add(format!("{CIFAR10_FOLDER}/{name}"), &record);
    }
    add(format!("{CIFAR10_FOLDER}/readme.html"), b"<html></html>");
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn cifar10_archive_unpacks_its_records_only_and_downloads_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("cifar-10-binary.tar.gz");
    cifar_archive(&archive);
    let target = dir.path().join("unpacked");
    std::fs::create_dir_all(&target).unwrap();
    unpack_cifar10(&archive, &target).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, CIFAR10_FILES.map(String::from).to_vec());
    let set = DataSplit::load(BuiltinSet::Cifar10, &target, Split::Test).unwrap();
    assert_eq!(set.get(0).unwrap().label, 4);

    // Nothing on disk and a server whose archive is not the official one: refused by its MD5,
    // nothing kept.
    let served = std::fs::read(&archive).unwrap();
    let url = common::serve(
        vec![("/data/cifar/cifar-10-binary.tar.gz".into(), served)],
        2,
    );
    let cache = tempfile::tempdir().unwrap();
    let plan = SearchPlan {
        set: BuiltinSet::Cifar10,
        dirs: vec![dir.path().join("nothing-here")],
        download_to: Some(cache.path().join("cifar10")),
        url: format!("{url}/cifar/"),
    };
    let err = plan.locate(None).unwrap_err().to_string();
    assert!(
        err.contains("CIFAR-10 not found") && err.contains("checksum mismatch"),
        "{err}"
    );
    assert!(
        !err.contains("apt-get"),
        "no Debian package to suggest: {err}"
    );
    let kept = std::fs::read_dir(cache.path().join("cifar10")).map_or(0, |d| d.count());
    assert_eq!(kept, 0);
}
