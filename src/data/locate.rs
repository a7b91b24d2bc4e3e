//! Finding a built-in dataset's files on disk, or downloading them.
//!
//! Search order: `--data DIR` (strict: only that directory), the set's environment variable
//! (`FASHION_MNIST_DIR`, `MNIST_DIR`, `CIFAR10_DIR`), `./data/<set>`, the user cache dir, and
//! for Fashion-MNIST `/usr/share/datasets/fashion-mnist` (Debian package
//! `dataset-fashion-mnist`). If none has the files, they are downloaded into the cache dir and
//! checked against the official MD5 sums (the ones torchvision checks too); CIFAR-10's archive
//! is unpacked there after its check.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

pub use super::builtin::file_in;
use super::builtin::{BuiltinSet, CIFAR10_FILES, CIFAR10_META};

/// Fashion-MNIST's four files, with the MD5 of the official gzip files.
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

/// Why the data could not be found.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("no {set} files in {dir} (given as `data_dir`); expected {names}", names = .set.expected_files())]
    NotInGivenDir { set: BuiltinSet, dir: PathBuf },
    #[error(
        "{set} not found. Searched:\n{searched}\nand the download from {url} failed: {reason}\n\
         Fix: {install}put its files ({names}) in one of the directories above, or give their \
         directory as `data_dir`.",
        searched = .searched.iter().map(|d| format!("  - {}", d.display())).collect::<Vec<_>>().join("\n"),
        install = install_hint(.set),
        names = .set.expected_files()
    )]
    NotFound {
        set: BuiltinSet,
        searched: Vec<PathBuf>,
        url: String,
        reason: String,
    },
}

/// The start of a `NotFound` fix: the Debian package, where there is one.
fn install_hint(set: &BuiltinSet) -> String {
    match set.debian_dir() {
        Some(_) => format!(
            "install the Debian package (`apt-get install dataset-{}`), or ",
            set.id()
        ),
        None => String::new(),
    }
}

/// Whether `dir` holds Fashion-MNIST's four files.
pub fn has_all_files(dir: &Path) -> bool {
    BuiltinSet::FashionMnist.files_in(dir).is_some()
}

/// The cache directory used for downloads: `<user cache>/inception/<set>`.
pub fn cache_dir(set: BuiltinSet) -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("inception").join(set.id()))
}

/// The directories searched when `--data` is not given, in order.
pub fn search_path(set: BuiltinSet) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(env) = std::env::var_os(set.dir_variable()) {
        dirs.push(PathBuf::from(env));
    }
    dirs.push(Path::new("data").join(set.id()));
    dirs.extend(cache_dir(set));
    dirs.extend(set.debian_dir().map(PathBuf::from));
    dirs
}

/// Finds the directory holding Fashion-MNIST; downloads it if `download` and nothing is found.
pub fn locate(explicit: Option<&Path>, download: bool) -> Result<PathBuf, LocateError> {
    locate_set(BuiltinSet::FashionMnist, explicit, download)
}

/// Finds the directory holding `set`'s files; downloads them if `download` and nothing is found.
pub fn locate_set(
    set: BuiltinSet,
    explicit: Option<&Path>,
    download: bool,
) -> Result<PathBuf, LocateError> {
    let url = std::env::var(set.url_variable()).unwrap_or_else(|_| set.default_url().to_string());
    let plan = SearchPlan {
        set,
        dirs: search_path(set),
        download_to: cache_dir(set).filter(|_| download),
        url,
    };
    plan.locate(explicit)
}

/// Where to look and where to download: [`locate_set`] with the defaults, or anything for tests.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    /// What to look for.
    pub set: BuiltinSet,
    /// Directories searched in order.
    pub dirs: Vec<PathBuf>,
    /// Where to download the files if no directory has them (`None`: never download).
    pub download_to: Option<PathBuf>,
    /// Base URL of the files to download.
    pub url: String,
}

impl SearchPlan {
    /// `explicit` (from `--data`) is searched alone; otherwise `dirs`, then the download.
    /// Returns the folder holding the files.
    pub fn locate(&self, explicit: Option<&Path>) -> Result<PathBuf, LocateError> {
        let set = self.set;
        if let Some(dir) = explicit {
            return set.files_in(dir).ok_or_else(|| LocateError::NotInGivenDir {
                set,
                dir: dir.to_path_buf(),
            });
        }
        if let Some(found) = self.dirs.iter().find_map(|d| set.files_in(d)) {
            return Ok(found);
        }
        let reason = match &self.download_to {
            None => "downloading was disabled".to_string(),
            Some(target) => match self.download(target) {
                Ok(found) => return Ok(found),
                Err(reason) => reason,
            },
        };
        Err(LocateError::NotFound {
            set,
            searched: self.dirs.clone(),
            url: self.url.clone(),
            reason,
        })
    }

    /// Downloads the set into `target` and returns the folder holding its files.
    fn download(&self, target: &Path) -> Result<PathBuf, String> {
        let files: Vec<(&str, &str)> = self
            .set
            .downloads()
            .iter()
            .map(|d| (d.name.trim_end_matches(".gz"), d.md5))
            .collect();
        match self.set {
            BuiltinSet::FashionMnist | BuiltinSet::Mnist => {
                download_all(&self.url, target, &files)?;
            }
            BuiltinSet::Cifar10 => {
                // The archive is `cifar-10-binary.tar.gz`: fetched as `cifar-10-binary.tar`
                // + `.gz` by `download_all`, then unpacked and removed.
                download_all(&self.url, target, &files)?;
                let archive = target.join(format!("{}.gz", files[0].0));
                unpack_cifar10(&archive, target)?;
                let _ = std::fs::remove_file(&archive);
            }
        }
        self.set
            .files_in(target)
            .ok_or_else(|| format!("the download into {} is incomplete", target.display()))
    }
}

/// Unpacks CIFAR-10's six record files (and nothing else: no path from the archive is used)
/// from its verified `.tar.gz` into `dir`, each written atomically.
///
/// By hand around the `tar` crate rather than `Archive::unpack`: only known file names are
/// written, so an archive cannot place files outside `dir`. The class names
/// (`batches.meta.txt`) come along.
pub fn unpack_cifar10(archive: &Path, dir: &Path) -> Result<(), String> {
    let file = std::fs::File::open(archive)
        .map_err(|e| format!("cannot read {}: {e}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let broken = |e: std::io::Error| format!("{}: not a readable archive: {e}", archive.display());
    let mut found = 0;
    for entry in tar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let path = entry.path().map_err(broken)?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let records = CIFAR10_FILES.contains(&name);
        if !records && name != CIFAR10_META {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(broken)?;
        let target = dir.join(name);
        crate::fsutil::write_atomic(&target, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        found += usize::from(records);
    }
    if found < CIFAR10_FILES.len() {
        return Err(format!(
            "{} holds {found} of CIFAR-10's {} record files",
            archive.display(),
            CIFAR10_FILES.len()
        ));
    }
    Ok(())
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
