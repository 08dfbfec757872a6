//! The latency percentile plot (SVG): latency against percentile on HdrHistogram's usual axes,
//! where the x axis stretches the tail (90%, 99%, 99.9%, … are equally spaced).

use std::path::Path;

use plotters::prelude::*;

use crate::error::LoadError;
use crate::latency::SpectrumPoint;

/// The x position of a percentile: 1 / (1 − p), capped at the 99.999th.
const X_MAX: f64 = 1e5;
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(0, 0, 0),
];

fn x_of(percentile: f64) -> f64 {
    let rest = 1.0 - percentile / 100.0;
    if rest <= 1.0 / X_MAX {
        X_MAX
    } else {
        1.0 / rest
    }
}

/// Writes one line per series (its label and spectrum) to an SVG file.
pub fn write_spectrum_svg(
    path: &Path,
    title: &str,
    series: &[(String, Vec<SpectrumPoint>)],
) -> Result<(), LoadError> {
    draw(path, title, series)
        .map_err(|err| LoadError::Setup(format!("plot {}: {err}", path.display())))
}

fn draw(
    path: &Path,
    title: &str,
    series: &[(String, Vec<SpectrumPoint>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let all = series.iter().flat_map(|(_, points)| points.iter());
    let (low_us, high_us) = all.fold((u64::MAX, 1), |(lo, hi), p| {
        (lo.min(p.latency_us), hi.max(p.latency_us))
    });
    let y_low = (low_us.min(high_us) as f64 / 1000.0 * 0.8).max(0.001);
    let y_high = (high_us as f64 / 1000.0 * 1.25).max(y_low * 10.0);
    let root = SVGBackend::new(path, (820, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((1.0..X_MAX).log_scale(), (y_low..y_high).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency, ms (receive - intended send)")
        .x_label_formatter(&|x| format!("{}%", trim(100.0 * (1.0 - 1.0 / x))))
        .y_label_formatter(&|y| trim(*y))
        .draw()?;
    for (index, (label, points)) in series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let line = points.iter().map(|p| {
            (
                x_of(p.percentile),
                (p.latency_us as f64 / 1000.0).max(y_low),
            )
        });
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A number without trailing zeros (0.5, 99.9, 12).
fn trim(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_map_to_the_stretched_axis() {
        assert_eq!(x_of(0.0), 1.0);
        assert!((x_of(99.0) - 100.0).abs() < 1e-6);
        assert_eq!(x_of(100.0), X_MAX);
        assert_eq!(trim(99.9000), "99.9");
        assert_eq!(trim(12.0), "12");
    }

    #[test]
    fn writes_an_svg() {
        let dir = std::env::temp_dir().join(format!("tidegate-load-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.svg");
        let points = vec![
            SpectrumPoint {
                percentile: 0.0,
                latency_us: 100,
            },
            SpectrumPoint {
                percentile: 99.0,
                latency_us: 900,
            },
            SpectrumPoint {
                percentile: 100.0,
                latency_us: 5000,
            },
        ];
        write_spectrum_svg(&path, "test", &[("a".into(), points)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
