//! Image folders in torchvision's `ImageFolder` layout: classes from sorted folder names, gray
//! and colour files, a seeded stratified validation split, and training, evaluation and
//! prediction from the command line. The images are real Fashion-MNIST ones written as PNG and
//! JPEG files by the test.

mod common;

use std::path::Path;

use assert_cmd::Command;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use inception::data::{
    data_loader, network_input, read_image, FashionMnist, ImageDataset, ImageFolder, Layout,
    LoaderOptions, ResizeMode, Split,
};
use predicates::prelude::*;

fn inception() -> Command {
    Command::cargo_bin("inception").unwrap()
}

/// Fashion-MNIST's classes used as folders (sorted names differ from label order on purpose).
const CLASSES: [(u32, &str); 3] = [(1, "trouser"), (8, "bag"), (5, "sandal")];

/// Writes `per_class` real images of each of `CLASSES` into `dir/<class>/`, starting at the
/// `skip`-th image of that class; every third one as a colour JPEG, the others as gray PNGs.
fn write_folder(dir: &Path, per_class: usize, skip: usize) {
    let train = FashionMnist::load(&common::fashion_mnist_dir(), Split::Train).unwrap();
    for (label, class) in CLASSES {
        let class_dir = dir.join(class);
        std::fs::create_dir_all(&class_dir).unwrap();
        let indices = (0..train.len()).filter(|&i| u32::from(train.label(i)) == label);
        for (k, i) in indices.skip(skip).take(per_class).enumerate() {
            let item = train.get(i).unwrap();
            let gray = image::GrayImage::from_raw(28, 28, item.pixels).unwrap();
            if k % 3 == 2 {
                let rgb = image::DynamicImage::ImageLuma8(gray).to_rgb8();
                rgb.save(class_dir.join(format!("{k:04}.jpg"))).unwrap();
            } else {
                gray.save(class_dir.join(format!("{k:04}.png"))).unwrap();
            }
        }
    }
    // Not images: left out.
    std::fs::write(dir.join("bag").join("notes.txt"), "not an image").unwrap();
}

#[test]
fn folders_are_classes_and_files_are_decoded_when_read() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), 9, 0);
    let folder = ImageFolder::open(dir.path()).unwrap();
    assert_eq!(folder.class_names(), ["bag", "sandal", "trouser"]);
    assert_eq!(folder.len(), 27);
    // Sorted classes, then sorted files: image 9 is the first sandal.
    let first_sandal = folder.get(9).unwrap();
    assert_eq!((first_sandal.label, first_sandal.channels), (1, 1));
    let jpeg = folder.get(2).unwrap();
    assert_eq!((jpeg.label, jpeg.channels, jpeg.rows), (0, 3, 28));

    // A validation split keeps a fraction of every class, the same for the same seed.
    let (train, val) = folder.split(1.0 / 3.0, 7).unwrap();
    assert_eq!((train.len(), val.len()), (18, 9));
    for label in 0..3 {
        assert_eq!(val.files().iter().filter(|(_, l)| *l == label).count(), 3);
    }
    let (_, again) = folder.split(1.0 / 3.0, 7).unwrap();
    assert_eq!(val.files(), again.files());
    let (_, other) = folder.split(1.0 / 3.0, 8).unwrap();
    assert_ne!(val.files(), other.files());
    assert!(train.files().iter().all(|f| !val.files().contains(f)));
    assert!(folder.split(0.0, 7).is_err() && folder.split(1.0, 7).is_err());

    // Recognized: class folders alone, or train/ with val/.
    assert_eq!(
        Layout::recognize(dir.path()).unwrap(),
        Layout::Classes(dir.path().to_path_buf())
    );
}

#[test]
fn image_folders_train_evaluate_and_predict_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    write_folder(&data.path().join("train"), 200, 0);
    write_folder(&data.path().join("val"), 40, 200);
    let out = tempfile::tempdir().unwrap();
    let train = inception()
        .args([
            "train",
            "--model",
            "lenet",
            "--epochs",
            "1",
            "--batch-size",
            "30",
        ])
        .args(["--optimizer", "adam", "--lr", "0.002", "--data"])
        .arg(data.path())
        .arg("--out")
        .arg(out.path())
        .assert()
        .success()
        .stdout(
            predicate::str::contains("on image folders (3 classes) from").and(
                predicate::str::contains("(600 train / 120 test images), input 1x28x28"),
            ),
        );
    let stdout = String::from_utf8(train.get_output().stdout.clone()).unwrap();
    let line = stdout.lines().find(|l| l.starts_with("epoch 1")).unwrap();
    eprintln!("{line}");
    let acc: f64 = line.split("test acc ").nth(1).unwrap()[..5]
        .parse()
        .unwrap();
    // Bags, sandals and trousers: chance is a third.
    assert!(acc > 0.8, "{line}");

    let ckpt = out.path().join("model.ckpt");
    inception()
        .args(["eval", "--data"])
        .arg(data.path())
        .arg("--checkpoint")
        .arg(&ckpt)
        .assert()
        .success()
        .stdout(predicate::str::contains("(120 images").and(predicate::str::contains("sandal")));
    // Without its folder, eval says what to give.
    inception()
        .args(["eval", "--checkpoint"])
        .arg(&ckpt)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("trained on image folders")
                .and(predicate::str::contains("--data DIR")),
        );
    // A folder of images: one line each.
    let all = inception()
        .args(["predict", "--checkpoint"])
        .arg(&ckpt)
        .arg(data.path().join("val"))
        .assert()
        .success();
    let lines = String::from_utf8(all.get_output().stdout.clone()).unwrap();
    assert_eq!(lines.lines().count(), 120, "{lines}");
    let bag = data.path().join("val").join("bag").join("0000.png");
    inception()
        .args(["predict", "--checkpoint"])
        .arg(&ckpt)
        .arg(&bag)
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"0000\.png: (bag|sandal|trouser) \(\d+\.\d%\)").unwrap());
}

/// `predict` prepares an image with the function training's path amounts to: the same tensor,
/// for a colour and a gray image of odd sizes, into one and three channels.
#[test]
fn predict_prepares_an_image_exactly_as_training_does() {
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("things");
    std::fs::create_dir_all(&class).unwrap();
    image::RgbImage::from_fn(37, 23, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 11) as u8, 200])
    })
    .save(class.join("a.png"))
    .unwrap();
    image::GrayImage::from_fn(50, 41, |x, y| image::Luma([((x * y) % 256) as u8]))
        .save(class.join("b.jpg"))
        .unwrap();
    let folder = ImageFolder::open(dir.path()).unwrap();
    for (channels, mode) in [(1, ResizeMode::Crop), (3, ResizeMode::Stretch)] {
        let options = LoaderOptions::evaluation([channels, 20, 20], mode, 2, None);
        let batch = data_loader(&folder, &options, &Device::flex())
            .iter()
            .next()
            .unwrap()
            .unwrap();
        let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
        let len = channels * 400;
        for (i, (path, _)) in folder.files().iter().enumerate() {
            let prepared = network_input(&read_image(path, 0).unwrap(), 20, mode, channels, false);
            assert_eq!(
                prepared,
                values[i * len..(i + 1) * len],
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn one_folder_of_classes_needs_a_validation_split_and_records_it() {
    let data = tempfile::tempdir().unwrap();
    write_folder(data.path(), 20, 0);
    inception()
        .args(["train", "--model", "lenet", "--epochs", "1", "--data"])
        .arg(data.path())
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no test or val folder")
                .and(predicate::str::contains("--val-split")),
        );
    let out = tempfile::tempdir().unwrap();
    inception()
        .args([
            "train",
            "--model",
            "lenet",
            "--epochs",
            "1",
            "--batch-size",
            "20",
            "--val-split",
            "0.25",
            "--data",
        ])
        .arg(data.path())
        .arg("--out")
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "(45 train / 15 validation images)",
        ));
    let record = std::fs::read_to_string(out.path().join("val_split.csv")).unwrap();
    assert_eq!(
        record
            .lines()
            .filter(|l| l.starts_with("validation,"))
            .count(),
        15
    );
    assert_eq!(
        record.lines().filter(|l| l.starts_with("train,")).count(),
        45
    );
    // Evaluation cuts the folder the same way: the same 15 validation images.
    inception()
        .args(["eval", "--data"])
        .arg(data.path())
        .arg("--checkpoint")
        .arg(out.path().join("model.ckpt"))
        .assert()
        .success()
        .stdout(predicate::str::contains("(15 images"));
}

#[test]
fn broken_folders_are_clear_errors() {
    let data = tempfile::tempdir().unwrap();
    write_folder(&data.path().join("train"), 5, 0);
    write_folder(&data.path().join("test"), 2, 5);
    std::fs::create_dir_all(data.path().join("test").join("coat")).unwrap();
    inception()
        .args(["train", "--model", "lenet", "--epochs", "1", "--data"])
        .arg(data.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("class folder `coat`"));
    std::fs::remove_dir(data.path().join("test").join("coat")).unwrap();
    // An image beside the class folders.
    let loose = data.path().join("train").join("stray.png");
    std::fs::copy(
        data.path().join("train").join("bag").join("0000.png"),
        &loose,
    )
    .unwrap();
    inception()
        .args(["train", "--model", "lenet", "--epochs", "1", "--data"])
        .arg(data.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "stray.png is an image outside any class folder",
        ));
    std::fs::remove_file(&loose).unwrap();
    let empty_class = data.path().join("train").join("sandal");
    for entry in std::fs::read_dir(&empty_class).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    inception()
        .args(["train", "--model", "lenet", "--epochs", "1", "--data"])
        .arg(data.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "sandal holds no PNG or JPEG images",
        ));
    write_folder(&data.path().join("train"), 5, 0);
    // A file that is not the image its name says: named, exit 2.
    let broken = data.path().join("train").join("bag").join("0001.png");
    std::fs::write(&broken, b"not a png").unwrap();
    inception()
        .args([
            "train",
            "--model",
            "lenet",
            "--epochs",
            "1",
            "--batch-size",
            "5",
            "--data",
        ])
        .arg(data.path())
        .arg("--out")
        .arg(data.path().join("run"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "0001.png: the file is not a PNG or JPEG image (its first bytes are the text \"not a png\")",
        ));
    // Skipped instead, with a zero-byte JPEG and a truncated one too: counted and listed.
    std::fs::write(
        data.path().join("test").join("sandal").join("9999.jpg"),
        b"",
    )
    .unwrap();
    let mut jpeg = Vec::new();
    image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 7]))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    jpeg.truncate(jpeg.len() * 2 / 3);
    std::fs::write(
        data.path().join("train").join("bag").join("truncated.jpg"),
        jpeg,
    )
    .unwrap();
    let run = data.path().join("skipping");
    inception()
        .args([
            "train",
            "--model",
            "lenet",
            "--epochs",
            "1",
            "--batch-size",
            "5",
        ])
        .arg("--skip-bad-images")
        .arg("--data")
        .arg(data.path())
        .arg("--out")
        .arg(&run)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("3 unreadable image(s) left out")
                .and(predicate::str::contains("(14 train / 6 test images)")),
        );
    let listed = std::fs::read_to_string(run.join("bad_images.csv")).unwrap();
    assert!(
        listed.contains("0001.png")
            && listed.contains("9999.jpg,\"the file is empty (0 bytes)\"")
            && listed.contains("truncated.jpg,\"the JPEG data is truncated or corrupt"),
        "{listed}"
    );
    let empty = tempfile::tempdir().unwrap();
    inception()
        .args(["train", "--data"])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no data in"));
}
