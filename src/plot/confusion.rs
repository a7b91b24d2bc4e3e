//! The confusion matrix as a heat map: a row per true class, a column per predicted class,
//! each cell shaded by the row's fraction, its count written in it where cells are large
//! enough; per-class accuracy at the right end of each row. Up to 20 classes the columns are
//! headed by the names; with more, the cells shrink (100 classes: 16 pixels), the rows are
//! labelled "index name" and the columns by index, so that every class stays legible.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Figure, PlotResult, FONT};
use crate::history::Confusion;

const CELL: i32 = 64;
const LEFT: i32 = 120;
const TOP: i32 = 80;
const RIGHT: i32 = 90;
/// Above this many classes the matrix is compact (indices over the columns, no counts).
const NAMED_COLUMNS: usize = 20;
/// The matrix's width in compact form, before the cells reach their smallest size.
const COMPACT_WIDTH: i32 = 1600;
/// Beyond this many classes only the first are drawn (the title says so).
const MAX_DRAWN: usize = 200;

/// Where things go, for a number of classes.
struct Layout {
    /// Classes drawn.
    n: usize,
    cell: i32,
    /// Left margin: the row labels.
    left: i32,
    /// Row labels' font size.
    font: u32,
    compact: bool,
}

pub struct ConfusionFigure<'a> {
    pub confusion: &'a Confusion,
    pub names: &'a [String],
    pub title: String,
}

impl ConfusionFigure<'_> {
    fn name(&self, class: usize) -> String {
        self.names
            .get(class)
            .cloned()
            .unwrap_or_else(|| class.to_string())
    }

    /// A row's label: the name, with its index in compact form (the column headings).
    fn row_label(&self, class: usize, compact: bool) -> String {
        match compact {
            true => format!("{class} {}", self.name(class)),
            false => self.name(class),
        }
    }

    fn layout(&self) -> Layout {
        let n = self.confusion.classes.clamp(1, MAX_DRAWN);
        let compact = n > NAMED_COLUMNS;
        let (cell, font) = match compact {
            false => (CELL, 13),
            true => {
                let cell = (COMPACT_WIDTH / n as i32).clamp(16, 40);
                (cell, (cell - 4).clamp(10, 13) as u32)
            }
        };
        // DejaVu Sans averages under 0.62 em per character.
        let widest = (0..n)
            .map(|c| self.row_label(c, compact).chars().count())
            .max()
            .unwrap_or(0);
        let left = LEFT.max(16 + (widest as f64 * f64::from(font) * 0.62) as i32);
        Layout {
            n,
            cell,
            left,
            font,
            compact,
        }
    }
}

impl Figure for ConfusionFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let Layout { n, cell, left, .. } = self.layout();
        let n = n as i32;
        (
            (left + n * cell + RIGHT).max(700) as u32,
            (TOP + n * cell + 50) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        let m = self.confusion;
        let Layout {
            n,
            cell,
            left,
            font,
            compact,
        } = self.layout();
        let text = |size| (FONT, size).into_font().color(&BLACK);
        let title = match n < m.classes {
            true => format!("{} (the first {n} of {} classes)", self.title, m.classes),
            false => self.title.clone(),
        };
        area.draw(&Text::new(title, (left, 12), text(18)))?;
        let predicted = match compact {
            true => "predicted class (index)",
            false => "predicted class",
        };
        area.draw(&Text::new(predicted, (left, 38), text(13)))?;
        area.draw(&Text::new("true class", (8, TOP - 18), text(13)))?;
        area.draw(&Text::new(
            "accuracy",
            (left + n as i32 * cell + 10, TOP - 18),
            text(13),
        ))?;
        for p in 0..n {
            let x = left + p as i32 * cell;
            let fits = |line: &str, size: u32| {
                area.estimate_text_size(line, &text(size))
                    .is_ok_and(|(w, _)| w as i32 <= cell - 2)
            };
            if compact {
                // The index, as large as fits (7 at least).
                let index = p.to_string();
                let size = (7..=11).rev().find(|&s| fits(&index, s)).unwrap_or(7);
                area.draw(&Text::new(index, (x + 1, TOP - 16), text(size)))?;
                continue;
            }
            // The whole name over its column: on two lines, and smaller, if it must.
            let (lines, size) = column_heading(&self.name(p), fits);
            for (k, line) in lines.iter().rev().enumerate() {
                let y = TOP - 18 - 13 * k as i32;
                area.draw(&Text::new(line.clone(), (x + 2, y), text(size)))?;
            }
        }
        let half = font as i32 / 2;
        for t in 0..n {
            let y = TOP + t as i32 * cell;
            let label = self.row_label(t, compact);
            area.draw(&Text::new(label, (8, y + cell / 2 - half), text(font)))?;
            let support = m.support(t).max(1) as f64;
            for p in 0..n {
                let x = left + p as i32 * cell;
                let count = m.count(t, p);
                let fraction = count as f64 / support;
                // Mistakes are rarer: a 20% confusion is already full red.
                let intensity = if t == p {
                    fraction
                } else {
                    (fraction * 5.0).min(1.0)
                };
                let color = shade(intensity, if t == p { BLUE_INK } else { RED_INK });
                area.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    color.filled(),
                ))?;
                area.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    RGBColor(220, 220, 220),
                ))?;
                if count > 0 && !compact {
                    let ink = if intensity > 0.55 { WHITE } else { BLACK };
                    let label = count.to_string();
                    let dx = cell / 2 - 4 * label.len() as i32;
                    area.draw(&Text::new(
                        label,
                        (x + dx, y + cell / 2 - 7),
                        (FONT, 14).into_font().color(&ink),
                    ))?;
                }
            }
            if let Some(acc) = m.class_accuracy(t) {
                area.draw(&Text::new(
                    format!("{acc:.3}"),
                    (left + n as i32 * cell + 14, y + cell / 2 - half),
                    text(font),
                ))?;
            }
        }
        Ok(())
    }
}

/// A class name as a column heading: one line at size 11 if it fits, else split in two at
/// the space, slash or hyphen that balances the lines, and smaller until both fit (7 at
/// least).
fn column_heading(name: &str, fits: impl Fn(&str, u32) -> bool) -> (Vec<String>, u32) {
    let all_fit = |lines: &[String], size| lines.iter().all(|l| fits(l, size));
    let one = vec![name.to_string()];
    if all_fit(&one, 11) {
        return (one, 11);
    }
    let split = name
        .char_indices()
        .filter(|(_, c)| matches!(c, ' ' | '/' | '-'))
        .map(|(i, c)| if c == ' ' { (i, i + 1) } else { (i + 1, i + 1) })
        .min_by_key(|&(end, start)| {
            name[..end]
                .chars()
                .count()
                .max(name[start..].chars().count())
        });
    let lines = match split {
        Some((end, start)) => vec![name[..end].to_string(), name[start..].to_string()],
        None => one,
    };
    let size = (7..=11).rev().find(|&s| all_fit(&lines, s)).unwrap_or(7);
    (lines, size)
}

const BLUE_INK: RGBColor = RGBColor(8, 69, 148);
const RED_INK: RGBColor = RGBColor(203, 24, 29);

/// White at 0, `to` at 1.
fn shade(intensity: f64, to: RGBColor) -> RGBColor {
    let f = intensity.clamp(0.0, 1.0);
    let c = |a: u8| (255.0 - (255.0 - f64::from(a)) * f).round() as u8;
    RGBColor(c(to.0), c(to.1), c(to.2))
}

#[cfg(test)]
mod tests {
    use super::column_heading;

    #[test]
    fn long_class_names_are_split_not_cut() {
        // 6 characters fit a column in this stand-in measure.
        let fits = |line: &str, _size: u32| line.chars().count() <= 6;
        let heading = |name| column_heading(name, fits).0;
        assert_eq!(heading("Coat"), ["Coat"]);
        assert_eq!(heading("T-shirt/top"), ["T-shirt/", "top"]);
        assert_eq!(heading("Ankle boot"), ["Ankle", "boot"]);
        // Nothing to split at: whole, at the smallest size.
        assert_eq!(
            column_heading("Sweatshirts", fits),
            (vec!["Sweatshirts".to_string()], 7)
        );
    }
}
