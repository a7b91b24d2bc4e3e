//! Reading one image file (PNG or JPEG, told by its first bytes, not its name) as 8-bit gray
//! or RGB, with errors that say what is wrong with the file.
//!
//! JPEGs are decoded by zune-jpeg in strict mode: the `image` crate runs the same decoder
//! leniently, and a truncated JPEG then decodes without a word, its missing part filled in
//! (Pillow, torchvision's reader, refuses it: "image file is truncated"). PNGs go through
//! `image`.

use std::path::Path;

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use super::dataset::RawImage;

/// Why a file could not be read as an image. The message names no file: the caller adds it.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    #[error("cannot read the file: {0}")]
    Io(std::io::Error),
    #[error("the file is empty (0 bytes)")]
    Empty,
    #[error("the file is not a PNG or JPEG image (its first bytes are {0})")]
    NotAnImage(String),
    #[error("the JPEG data is truncated or corrupt ({0}); re-export or remove the file")]
    BadJpeg(String),
    #[error("the PNG data is truncated or corrupt ({0}); re-export or remove the file")]
    BadPng(String),
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Reads the image file at `path`: gray files as gray, every other colour type as RGB (as
/// torchvision's `ImageFolder` does with `convert("RGB")`, gray kept gray here so that a gray
/// set trains a one-channel network).
pub fn read_image(path: &Path, label: u32) -> Result<RawImage, ImageFileError> {
    decode_image(&std::fs::read(path).map_err(ImageFileError::Io)?, label)
}

/// Decodes the bytes of a PNG or JPEG file.
pub fn decode_image(bytes: &[u8], label: u32) -> Result<RawImage, ImageFileError> {
    if bytes.is_empty() {
        Err(ImageFileError::Empty)
    } else if bytes.starts_with(JPEG_MAGIC) {
        decode_jpeg(bytes, label)
    } else if bytes.starts_with(PNG_MAGIC) {
        let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
            .map_err(|e| ImageFileError::BadPng(e.to_string()))?;
        Ok(RawImage::from_dynamic(&image, label))
    } else {
        Err(ImageFileError::NotAnImage(first_bytes(bytes)))
    }
}

fn decode_jpeg(bytes: &[u8], label: u32) -> Result<RawImage, ImageFileError> {
    let bad = |e: zune_jpeg::errors::DecodeErrors| ImageFileError::BadJpeg(format!("{e:?}"));
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(1 << 16)
        .set_max_height(1 << 16);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(bad)?;
    let gray = matches!(
        decoder.input_colorspace(),
        Some(ColorSpace::Luma | ColorSpace::LumaA)
    );
    let out = if gray {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(out));
    let pixels = decoder.decode().map_err(bad)?;
    let (cols, rows) = decoder
        .dimensions()
        .ok_or_else(|| ImageFileError::BadJpeg("no image size in its header".into()))?;
    Ok(match gray {
        true => RawImage::gray(pixels, rows, cols, label),
        false => RawImage::rgb(pixels, rows, cols, label),
    })
}

/// The first bytes of a file, as text when they are text (a file named `.png` that is not one
/// is most often a web page or an error message saved by a download).
fn first_bytes(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    match std::str::from_utf8(head) {
        Ok(text) if text.chars().all(|c| !c.is_control() || c.is_whitespace()) => {
            format!("the text {:?}", text)
        }
        _ => head
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32, gray: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90);
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        });
        let image = match gray {
            true => {
                image::DynamicImage::ImageLuma8(image::DynamicImage::ImageRgb8(image).to_luma8())
            }
            false => image::DynamicImage::ImageRgb8(image),
        };
        image.write_with_encoder(encoder).unwrap();
        bytes
    }

    #[test]
    fn jpegs_decode_gray_or_rgb_and_truncated_ones_are_refused() {
        let rgb = decode_image(&jpeg(40, 30, false), 2).unwrap();
        assert_eq!(
            (rgb.rows, rgb.cols, rgb.channels, rgb.label),
            (30, 40, 3, 2)
        );
        let gray = decode_image(&jpeg(40, 30, true), 0).unwrap();
        assert_eq!((gray.channels, gray.pixels.len()), (1, 1200));
        let whole = jpeg(64, 64, false);
        let cut = &whole[..whole.len() * 2 / 3];
        let error = decode_image(cut, 0).unwrap_err().to_string();
        assert!(
            error.contains("JPEG data is truncated or corrupt"),
            "{error}"
        );
    }

    #[test]
    fn empty_and_text_files_say_what_they_are() {
        assert_eq!(
            decode_image(b"", 0).unwrap_err().to_string(),
            "the file is empty (0 bytes)"
        );
        let error = decode_image(b"<html>Not found</html>", 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the file is not a PNG or JPEG image (its first bytes are the text \"<html>Not found<\")"
        );
    }
}
