//! Finding the Fashion-MNIST files on disk, or downloading them.
//!
//! Search order: `--data DIR` (strict: only that directory), env `FASHION_MNIST_DIR`,
//! `./data/fashion-mnist`, the user cache dir, and `/usr/share/datasets/fashion-mnist` (Debian
//! package `dataset-fashion-mnist`). If none has the files, they are downloaded into the cache
//! dir and checked against the official MD5 sums (the ones torchvision checks too).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

/// The four files of the data set, with the MD5 of the official gzip files.
pub const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    ),
    (
        "train-labels-idx1-ubyte",
        "25c81989df183df01b3e8a0aad5dffbe",
    ),
    ("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79"),
    ("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310"),
];

/// Where the official files are published (override with env `FASHION_MNIST_URL`).
pub const DEFAULT_URL: &str =
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/";

/// Where Debian's `dataset-fashion-mnist` package installs the files.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Why the data could not be found.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("no Fashion-MNIST files in {dir} (given as `data_dir`); expected {names}", names = expected_names())]
    NotInGivenDir { dir: PathBuf },
    #[error(
        "Fashion-MNIST not found. Searched:\n{searched}\nand the download from {url} failed: {reason}\n\
         Fix: install the Debian package (`apt-get install dataset-fashion-mnist`), or put the four \
         files ({names}) in one of the directories above, or give their directory as `data_dir`.",
        searched = .searched.iter().map(|d| format!("  - {}", d.display())).collect::<Vec<_>>().join("\n"),
        names = expected_names()
    )]
    NotFound {
        searched: Vec<PathBuf>,
        url: String,
        reason: String,
    },
}

fn expected_names() -> String {
    FILES
        .iter()
        .map(|(name, _)| format!("{name}[.gz]"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Path of `name` in `dir`, plain or gzip-compressed, if present.
pub fn file_in(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// Whether `dir` holds all four files.
pub fn has_all_files(dir: &Path) -> bool {
    FILES.iter().all(|(name, _)| file_in(dir, name).is_some())
}

/// The cache directory used for downloads: `<user cache>/inception/fashion-mnist`.
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("inception").join("fashion-mnist"))
}

/// The directories searched when `--data` is not given, in order.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(env) = std::env::var_os("FASHION_MNIST_DIR") {
        dirs.push(PathBuf::from(env));
    }
    dirs.push(PathBuf::from("data/fashion-mnist"));
    dirs.extend(cache_dir());
    dirs.push(PathBuf::from(DEBIAN_DIR));
    dirs
}

/// Finds the directory holding the data; downloads it if `download` and nothing is found.
pub fn locate(explicit: Option<&Path>, download: bool) -> Result<PathBuf, LocateError> {
    let url = std::env::var("FASHION_MNIST_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    let plan = SearchPlan {
        dirs: search_path(),
        download_to: cache_dir().filter(|_| download),
        url,
    };
    plan.locate(explicit)
}

/// Where to look and where to download: [`locate`] with the defaults, or anything for tests.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    /// Directories searched in order.
    pub dirs: Vec<PathBuf>,
    /// Where to download the files if no directory has them (`None`: never download).
    pub download_to: Option<PathBuf>,
    /// Base URL of the four `.gz` files.
    pub url: String,
}

impl SearchPlan {
    /// `explicit` (from `--data`) is searched alone; otherwise `dirs`, then the download.
    pub fn locate(&self, explicit: Option<&Path>) -> Result<PathBuf, LocateError> {
        if let Some(dir) = explicit {
            return if has_all_files(dir) {
                Ok(dir.to_path_buf())
            } else {
                Err(LocateError::NotInGivenDir {
                    dir: dir.to_path_buf(),
                })
            };
        }
        if let Some(dir) = self.dirs.iter().find(|d| has_all_files(d)) {
            return Ok(dir.clone());
        }
        let reason = match &self.download_to {
            None => "downloading was disabled".to_string(),
            Some(target) => match download_all(&self.url, target, &FILES) {
                Ok(()) => return Ok(target.clone()),
                Err(reason) => reason,
            },
        };
        Err(LocateError::NotFound {
            searched: self.dirs.clone(),
            url: self.url.clone(),
            reason,
        })
    }
}

/// Downloads `files` (name without `.gz`, MD5 of the `.gz`) from `base_url` into `dir`,
/// verifying each MD5 before the file is renamed into place.
pub fn download_all(base_url: &str, dir: &Path, files: &[(&str, &str)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for &(name, md5) in files {
        let target = dir.join(format!("{name}.gz"));
        if target.is_file() {
            continue;
        }
        let url = format!("{}/{name}.gz", base_url.trim_end_matches('/'));
        let bytes = fetch(&url)?;
        let digest = format!("{:x}", Md5::digest(&bytes));
        if digest != md5 {
            return Err(format!(
                "{url}: checksum mismatch (MD5 {digest}, expected {md5}); the download is corrupt"
            ));
        }
        crate::fsutil::write_atomic(&target, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(())
}

fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let response = ureq::get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bar = crate::progress::download_bar(url, total);
    let mut body = response.into_body();
    let mut reader = body.as_reader();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk).map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        bytes.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(bytes)
}
