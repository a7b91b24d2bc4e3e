//! The first test images with their true and predicted labels, as d2l's `show_fashion_mnist`
//! shows them; a wrong prediction is written in red and framed in red. Images larger than
//! 32 pixels are drawn as 32x32 thumbnails (the middle square, as `--resize-mode crop` takes
//! it): every pixel is a rectangle of the SVG, and a photo's millions would make it useless.

use burn::data::dataset::Dataset;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Figure, PlotResult, FONT};
use crate::data::transform::resize_crop_to_unit;
use crate::data::RawImage;

const COLS: usize = 8;
const ROWS: usize = 4;
const SCALE: i32 = 4;
const CELL_W: i32 = 28 * SCALE + 28;
const CELL_H: i32 = 28 * SCALE + 44;
const WRONG: RGBColor = RGBColor(214, 39, 40);
/// The largest side drawn pixel for pixel.
const THUMBNAIL: usize = 32;

pub struct PredictionGrid<'a> {
    pub test_set: &'a dyn Dataset<RawImage>,
    /// Predicted class of each test image, in file order.
    pub predictions: &'a [u32],
    pub names: &'a [String],
}

impl Figure for PredictionGrid<'_> {
    fn size(&self) -> (u32, u32) {
        (
            (COLS as i32 * CELL_W + 10) as u32,
            (ROWS as i32 * CELL_H + 40) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        let name = |c: usize| self.names.get(c).cloned().unwrap_or_else(|| c.to_string());
        let shown = self.predictions.len().min(COLS * ROWS);
        let wrong = (0..shown)
            .filter(|&i| {
                self.test_set
                    .get(i)
                    .is_ok_and(|item| item.label != self.predictions[i])
            })
            .count();
        area.draw(&Text::new(
            format!("the first {shown} test images: true label, then prediction ({wrong} wrong, in red)"),
            (10, 10),
            (FONT, 16).into_font().color(&BLACK),
        ))?;
        for (i, &predicted) in self.predictions.iter().take(shown).enumerate() {
            let item = thumbnail(self.test_set.get(i)?);
            let x0 = 10 + (i % COLS) as i32 * CELL_W;
            let y0 = 36 + (i / COLS) as i32 * CELL_H;
            let right = item.label == predicted;
            let ink = if right { BLACK } else { WRONG };
            let font = |color: &RGBColor| (FONT, 12).into_font().color(color);
            // A name longer than the cell is cut, with an ellipsis.
            let fitted = |name: String| {
                let fits = |text: &str| {
                    area.estimate_text_size(text, &font(&BLACK))
                        .is_ok_and(|(w, _)| w as i32 <= CELL_W - 6)
                };
                let mut chars: Vec<char> = name.chars().collect();
                let mut text = name;
                while !fits(&text) && chars.len() > 1 {
                    chars.pop();
                    text = chars.iter().collect::<String>() + "…";
                }
                text
            };
            area.draw(&Text::new(
                fitted(name(item.label as usize)),
                (x0, y0),
                font(&BLACK),
            ))?;
            area.draw(&Text::new(
                fitted(name(predicted as usize)),
                (x0, y0 + 14),
                font(&ink),
            ))?;
            let (ix, iy) = (x0, y0 + 30);
            // Gray images as dark ink on white, as a printed figure (white pixels need no
            // rectangle); RGB images in their colours.
            let cols = item.cols.max(1);
            let scale = (28 * SCALE / cols as i32).max(1);
            for (k, pixel) in item.pixels.chunks_exact(item.channels).enumerate() {
                let color = match *pixel {
                    [0] => continue,
                    [value] => RGBColor(255 - value, 255 - value, 255 - value),
                    [r, g, b] => RGBColor(r, g, b),
                    _ => continue,
                };
                let x = ix + (k % cols) as i32 * scale;
                let y = iy + (k / cols) as i32 * scale;
                area.draw(&Rectangle::new(
                    [(x, y), (x + scale, y + scale)],
                    color.filled(),
                ))?;
            }
            let side = cols as i32 * scale;
            let (color, width) = if right {
                (RGBColor(200, 200, 200), 1)
            } else {
                (WRONG, 3)
            };
            frame(area, (ix, iy), side, width, color)?;
        }
        Ok(())
    }
}

/// `image` as drawn: itself up to 32 pixels square, else its middle square resized to 32.
fn thumbnail(image: RawImage) -> RawImage {
    if image.rows == image.cols && image.cols <= THUMBNAIL {
        return image;
    }
    let side = THUMBNAIL.min(image.rows).min(image.cols);
    let planes = resize_crop_to_unit(&image, side, side);
    let plane = side * side;
    let channels = image.channels;
    let pixels = (0..plane)
        .flat_map(|k| (0..channels).map(move |c| k + c * plane))
        .map(|i| (planes[i] * 255.0).round() as u8)
        .collect();
    match channels {
        1 => RawImage::gray(pixels, side, side, image.label),
        _ => RawImage::rgb(pixels, side, side, image.label),
    }
}

/// A square frame of `width` pixels around the `side`-pixel square at `(x, y)`, as four filled
/// bars: crisp on every backend (SVG rectangles keep no stroke width).
fn frame<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    side: i32,
    width: i32,
    color: RGBColor,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    let (x0, y0, x1, y1) = (x - width, y - width, x + side + width, y + side + width);
    for bar in [
        [(x0, y0), (x1, y)],
        [(x0, y + side), (x1, y1)],
        [(x0, y), (x, y + side)],
        [(x + side, y), (x1, y + side)],
    ] {
        area.draw(&Rectangle::new(bar, color.filled()))?;
    }
    Ok(())
}
