//! The IDX reader: a round trip, and one clear error per kind of malformed file.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use inception::data::idx::{
    encode_images, encode_labels, read_images, read_labels, read_pair, IdxError, IdxImages,
};

fn sample_images() -> IdxImages {
    IdxImages {
        count: 3,
        rows: 2,
        cols: 4,
        pixels: (0..24).map(|i| (i * 10) as u8).collect(),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if name.ends_with(".gz") {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
    } else {
        std::fs::write(&path, bytes).unwrap();
    }
    path
}

#[test]
fn round_trip_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let images = sample_images();
    let labels = vec![0u8, 9, 4];
    for suffix in ["", ".gz"] {
        let ip = write(dir.path(), &format!("img{suffix}"), &encode_images(&images));
        let lp = write(dir.path(), &format!("lbl{suffix}"), &encode_labels(&labels));
        let (read_back, read_labels_back) = read_pair(&ip, &lp, 9).unwrap();
        assert_eq!(read_back, images);
        assert_eq!(read_labels_back, labels);
        assert_eq!(read_back.image(1), &images.pixels[8..16]);
    }
}

#[test]
fn bad_magic_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // A labels file given where images are expected.
    let path = write(dir.path(), "x", &encode_labels(&[1, 2, 3]));
    let err = read_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("wrong magic number 0x00000801") && msg.contains(&path.display().to_string()),
        "{msg}"
    );
}

#[test]
fn truncated_payload_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = encode_images(&sample_images());
    let path = write(dir.path(), "t.gz", &bytes[..bytes.len() - 5]);
    let err = read_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::Truncated {
                expected: 24,
                found: 19,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn truncated_header_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h", &[0, 0, 8, 3, 0, 0]);
    let err = read_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::Truncated {
                expected: 16,
                found: 6,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn trailing_bytes_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = encode_labels(&[1, 2]);
    bytes.extend_from_slice(&[7, 7, 7]);
    let path = write(dir.path(), "l", &bytes);
    let err = read_labels(&path, 9).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::TrailingBytes {
                expected: 2,
                extra: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn count_mismatch_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ip = write(dir.path(), "i", &encode_images(&sample_images()));
    let lp = write(dir.path(), "l", &encode_labels(&[1, 2]));
    let err = read_pair(&ip, &lp, 9).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("do not belong together"), "{err}");
}

#[test]
fn label_out_of_range_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "l.gz", &encode_labels(&[3, 9, 10, 2]));
    let err = read_labels(&path, 9).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::BadLabel {
                index: 2,
                value: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("label 10 at index 2"), "{err}");
}

#[test]
fn oversized_header_fails_fast_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // 12 bytes claiming u32::MAX labels, and 16 bytes claiming 10^9 images of 28x28.
    let mut labels = 0x801u32.to_be_bytes().to_vec();
    labels.extend_from_slice(&u32::MAX.to_be_bytes());
    labels.extend_from_slice(&[0, 0, 0, 0]);
    let err = read_labels(&write(dir.path(), "l", &labels), 9).unwrap_err();
    assert!(matches!(err, IdxError::Oversized { .. }), "{err}");

    let mut images = Vec::new();
    for word in [0x803u32, 1_000_000_000, 28, 28] {
        images.extend_from_slice(&word.to_be_bytes());
    }
    let err = read_images(&write(dir.path(), "i.gz", &images)).unwrap_err();
    assert!(matches!(err, IdxError::Oversized { .. }), "{err}");
    assert!(err.to_string().contains("implausible"), "{err}");

    // A plausible count whose data is absent is a truncation, found without allocating it.
    let mut images = Vec::new();
    for word in [0x803u32, 2_000_000, 28, 28] {
        images.extend_from_slice(&word.to_be_bytes());
    }
    let err = read_images(&write(dir.path(), "j", &images)).unwrap_err();
    assert!(matches!(err, IdxError::Truncated { found: 0, .. }), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let err = read_images(Path::new("/nonexistent/train-images-idx3-ubyte.gz")).unwrap_err();
    assert!(matches!(err, IdxError::Io { .. }));
    assert!(
        err.to_string()
            .contains("/nonexistent/train-images-idx3-ubyte.gz"),
        "{err}"
    );
}
