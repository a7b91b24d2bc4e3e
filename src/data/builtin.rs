//! The datasets known by name (`--dataset`): Fashion-MNIST, MNIST and CIFAR-10. What each one
//! is (classes, image size), where its files are looked for and downloaded from, and how a
//! download is checked.

use std::path::{Path, PathBuf};

/// A dataset this program can find or download by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinSet {
    /// Zalando's 70,000 28x28 gray images of clothes in ten classes (article 000's data).
    FashionMnist,
    /// LeCun's 70,000 28x28 gray handwritten digits.
    Mnist,
    /// Krizhevsky's 60,000 32x32 colour images in ten classes.
    Cifar10,
}

/// The IDX files of MNIST and Fashion-MNIST (the same names for both).
pub const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The record files of CIFAR-10's binary version, as its archive holds them.
/// CIFAR-10's class names, one per line, label order (beside the record files).
pub const CIFAR10_META: &str = "batches.meta.txt";

pub const CIFAR10_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// The folder that CIFAR-10's archive unpacks into.
pub const CIFAR10_FOLDER: &str = "cifar-10-batches-bin";

/// Fashion-MNIST's ten classes, in label order.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// One file to download: its name on the server and the MD5 of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Download {
    pub name: &'static str,
    pub md5: &'static str,
}

impl BuiltinSet {
    pub const ALL: [BuiltinSet; 3] = [
        BuiltinSet::FashionMnist,
        BuiltinSet::Mnist,
        BuiltinSet::Cifar10,
    ];

    /// Its usual name, for messages (`Fashion-MNIST`).
    pub fn name(self) -> &'static str {
        match self {
            BuiltinSet::FashionMnist => "Fashion-MNIST",
            BuiltinSet::Mnist => "MNIST",
            BuiltinSet::Cifar10 => "CIFAR-10",
        }
    }

    /// Its name in settings and folder names (`fashion-mnist`).
    pub fn id(self) -> &'static str {
        match self {
            BuiltinSet::FashionMnist => "fashion-mnist",
            BuiltinSet::Mnist => "mnist",
            BuiltinSet::Cifar10 => "cifar10",
        }
    }

    /// The set named `id` (`fashion-mnist`, `mnist`, `cifar10`).
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|set| set.id() == id)
    }

    /// The class names, in label order (torchvision's).
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            BuiltinSet::FashionMnist => &FASHION_CLASSES,
            BuiltinSet::Mnist => &DIGITS,
            BuiltinSet::Cifar10 => &CIFAR10_CLASSES,
        }
    }

    /// Its images' shape, `[channels, height, width]`.
    pub fn image_shape(self) -> [usize; 3] {
        match self {
            BuiltinSet::FashionMnist | BuiltinSet::Mnist => [1, 28, 28],
            BuiltinSet::Cifar10 => [3, 32, 32],
        }
    }

    /// The environment variable naming a folder that holds its files.
    pub fn dir_variable(self) -> &'static str {
        match self {
            BuiltinSet::FashionMnist => "FASHION_MNIST_DIR",
            BuiltinSet::Mnist => "MNIST_DIR",
            BuiltinSet::Cifar10 => "CIFAR10_DIR",
        }
    }

    /// The environment variable that replaces the download address.
    pub fn url_variable(self) -> &'static str {
        match self {
            BuiltinSet::FashionMnist => "FASHION_MNIST_URL",
            BuiltinSet::Mnist => "MNIST_URL",
            BuiltinSet::Cifar10 => "CIFAR10_URL",
        }
    }

    /// Where the official files are published (the addresses torchvision downloads from).
    pub fn default_url(self) -> &'static str {
        match self {
            BuiltinSet::FashionMnist => {
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
            }
            BuiltinSet::Mnist => "https://ossci-datasets.s3.amazonaws.com/mnist/",
            BuiltinSet::Cifar10 => "https://www.cs.toronto.edu/~kriz/",
        }
    }

    /// Where a Debian package installs it, if one does (`dataset-fashion-mnist`).
    pub fn debian_dir(self) -> Option<&'static str> {
        match self {
            BuiltinSet::FashionMnist => Some("/usr/share/datasets/fashion-mnist"),
            BuiltinSet::Mnist | BuiltinSet::Cifar10 => None,
        }
    }

    /// What to download, with the official MD5 of each file (those torchvision checks too).
    pub fn downloads(self) -> &'static [Download] {
        const fn d(name: &'static str, md5: &'static str) -> Download {
            Download { name, md5 }
        }
        const FASHION: [Download; 4] = [
            d(
                "train-images-idx3-ubyte.gz",
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            ),
            d(
                "train-labels-idx1-ubyte.gz",
                "25c81989df183df01b3e8a0aad5dffbe",
            ),
            d(
                "t10k-images-idx3-ubyte.gz",
                "bef4ecab320f06d8554ea6380940ec79",
            ),
            d(
                "t10k-labels-idx1-ubyte.gz",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ),
        ];
        const MNIST: [Download; 4] = [
            d(
                "train-images-idx3-ubyte.gz",
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            ),
            d(
                "train-labels-idx1-ubyte.gz",
                "d53e105ee54ea40749a09fcbcd1e9432",
            ),
            d(
                "t10k-images-idx3-ubyte.gz",
                "9fb629c4189551a2d022fa330f9573f3",
            ),
            d(
                "t10k-labels-idx1-ubyte.gz",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ),
        ];
        const CIFAR10: [Download; 1] = [d(
            "cifar-10-binary.tar.gz",
            "c32a1d4ab5d03f1284b67883e8d87530",
        )];
        match self {
            BuiltinSet::FashionMnist => &FASHION,
            BuiltinSet::Mnist => &MNIST,
            BuiltinSet::Cifar10 => &CIFAR10,
        }
    }

    /// The files a folder must hold (IDX files may be gzip-compressed), for messages.
    pub fn expected_files(self) -> String {
        match self {
            BuiltinSet::FashionMnist | BuiltinSet::Mnist => IDX_FILES
                .iter()
                .map(|name| format!("{name}[.gz]"))
                .collect::<Vec<_>>()
                .join(", "),
            BuiltinSet::Cifar10 => format!(
                "{} (in the folder itself or in {CIFAR10_FOLDER}/)",
                CIFAR10_FILES.join(", ")
            ),
        }
    }

    /// The folder holding its files: `dir` itself, or for CIFAR-10 the archive's folder inside
    /// it; `None` when a file is missing.
    pub fn files_in(self, dir: &Path) -> Option<PathBuf> {
        match self {
            BuiltinSet::FashionMnist | BuiltinSet::Mnist => IDX_FILES
                .iter()
                .all(|name| file_in(dir, name).is_some())
                .then(|| dir.to_path_buf()),
            BuiltinSet::Cifar10 => [dir.to_path_buf(), dir.join(CIFAR10_FOLDER)]
                .into_iter()
                .find(|d| CIFAR10_FILES.iter().all(|name| d.join(name).is_file())),
        }
    }
}

/// Path of `name` in `dir`, plain or gzip-compressed, if present.
pub fn file_in(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

impl std::fmt::Display for BuiltinSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
