//! The confusion matrix as a heat map: a row per true class, a column per predicted class,
//! each cell's count written in it and shaded by the row's fraction; per-class accuracy at the
//! right end of each row.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Figure, PlotResult, FONT};
use crate::history::{short, Confusion};

const CELL: i32 = 64;
const LEFT: i32 = 120;
const TOP: i32 = 80;
const RIGHT: i32 = 90;

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
}

impl Figure for ConfusionFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let n = self.confusion.classes.clamp(1, 30) as i32;
        (
            (LEFT + n * CELL + RIGHT).max(700) as u32,
            (TOP + n * CELL + 50) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> PlotResult
    where
        DB::ErrorType: 'static,
    {
        let m = self.confusion;
        // Beyond 30 classes the cells get unreadable: draw the first 30.
        let n = m.classes.min(30);
        let text = |size| (FONT, size).into_font().color(&BLACK);
        area.draw(&Text::new(self.title.clone(), (LEFT, 12), text(18)))?;
        area.draw(&Text::new("predicted class", (LEFT, 38), text(13)))?;
        area.draw(&Text::new("true class", (8, TOP - 18), text(13)))?;
        area.draw(&Text::new(
            "accuracy",
            (LEFT + n as i32 * CELL + 10, TOP - 18),
            text(13),
        ))?;
        for p in 0..n {
            let x = LEFT + p as i32 * CELL;
            area.draw(&Text::new(
                short(&self.name(p), 10),
                (x + 2, TOP - 18),
                text(11),
            ))?;
        }
        for t in 0..n {
            let y = TOP + t as i32 * CELL;
            area.draw(&Text::new(self.name(t), (8, y + CELL / 2 - 6), text(13)))?;
            let support = m.support(t).max(1) as f64;
            for p in 0..n {
                let x = LEFT + p as i32 * CELL;
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
                    [(x, y), (x + CELL, y + CELL)],
                    color.filled(),
                ))?;
                area.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    RGBColor(220, 220, 220),
                ))?;
                if count > 0 {
                    let ink = if intensity > 0.55 { WHITE } else { BLACK };
                    let label = count.to_string();
                    let dx = CELL / 2 - 4 * label.len() as i32;
                    area.draw(&Text::new(
                        label,
                        (x + dx, y + CELL / 2 - 7),
                        (FONT, 14).into_font().color(&ink),
                    ))?;
                }
            }
            if let Some(acc) = m.class_accuracy(t) {
                area.draw(&Text::new(
                    format!("{acc:.3}"),
                    (LEFT + n as i32 * CELL + 14, y + CELL / 2 - 7),
                    text(14),
                ))?;
            }
        }
        Ok(())
    }
}

const BLUE_INK: RGBColor = RGBColor(8, 69, 148);
const RED_INK: RGBColor = RGBColor(203, 24, 29);

/// White at 0, `to` at 1.
fn shade(intensity: f64, to: RGBColor) -> RGBColor {
    let f = intensity.clamp(0.0, 1.0);
    let c = |a: u8| (255.0 - (255.0 - f64::from(a)) * f).round() as u8;
    RGBColor(c(to.0), c(to.1), c(to.2))
}
