//! What training and evaluation read: any labelled image dataset. Fashion-MNIST is one; a
//! program brings its own by implementing [`ImageDataset`].

use burn::data::dataset::Dataset;
use image::{DynamicImage, GrayImage, RgbImage};

/// A labelled image dataset: burn's `Dataset` of [`RawImage`]s (8-bit gray or RGB images of
/// any size with their class), with a name and class names. Training resizes the images to the
/// network's input and converts them to its channels (gray repeated, or RGB made gray).
pub trait ImageDataset: Dataset<RawImage> + Clone + 'static {
    /// Its name, for messages and figures (`Fashion-MNIST`).
    fn name(&self) -> String;

    /// The name of every class, in label order.
    fn class_names(&self) -> Vec<String>;

    /// Channels of its images: 1 (gray) or 3 (RGB). By default, those of the first example.
    fn channels(&self) -> usize {
        self.get(0).map_or(1, |image| image.channels)
    }
}

/// One raw example: an 8-bit image of `rows` x `cols` pixels, row-major, with `channels`
/// values per pixel (1: gray; 3: red, green, blue side by side, as image files and the `image`
/// crate hold them), and its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawImage {
    pub pixels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
    pub channels: usize,
    pub label: u32,
}

impl RawImage {
    /// A gray image (`rows * cols` values).
    pub fn gray(pixels: Vec<u8>, rows: usize, cols: usize, label: u32) -> Self {
        assert_eq!(pixels.len(), rows * cols, "one value per pixel");
        Self {
            pixels,
            rows,
            cols,
            channels: 1,
            label,
        }
    }

    /// An RGB image (`rows * cols * 3` values, each pixel's red, green and blue together).
    pub fn rgb(pixels: Vec<u8>, rows: usize, cols: usize, label: u32) -> Self {
        assert_eq!(pixels.len(), rows * cols * 3, "three values per pixel");
        Self {
            pixels,
            rows,
            cols,
            channels: 3,
            label,
        }
    }

    /// A decoded image as it is read for training: gray if it is gray, RGB otherwise (alpha
    /// dropped, 16-bit values made 8-bit).
    pub fn from_dynamic(image: &DynamicImage, label: u32) -> Self {
        use image::ColorType;
        let (w, h) = (image.width() as usize, image.height() as usize);
        match image.color() {
            ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16 => {
                Self::gray(image.to_luma8().into_raw(), h, w, label)
            }
            _ => Self::rgb(image.to_rgb8().into_raw(), h, w, label),
        }
    }

    /// The same pixels as an `image` crate image (to resize or crop them).
    pub fn to_dynamic(&self) -> DynamicImage {
        let (w, h) = (self.cols as u32, self.rows as u32);
        let pixels = self.pixels.clone();
        let image = match self.channels {
            1 => GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
            3 => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
            c => panic!("images have 1 or 3 channels, not {c}"),
        };
        image.expect("pixel buffer matches its dimensions")
    }
}
