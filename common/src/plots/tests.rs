use super::*;

fn summary(config: &str, score: &str, auroc: f64, std: f64) -> SummaryRow {
    SummaryRow {
        dataset: "MVTec-AD".into(),
        config: config.into(),
        category: MEAN_CATEGORY.into(),
        score: score.into(),
        auroc_mean: auroc,
        auroc_std: std,
        aupr_mean: 0.0,
        aupr_std: 0.0,
        average_precision_mean: 0.0,
        average_precision_std: 0.0,
        f1_max_mean: 0.0,
        f1_max_std: 0.0,
        n_seeds: 3,
        pixel: Default::default(),
    }
}

/// The PNG's pixels: decoded, the size asked for, and not one colour.
fn check_png(f: &Figure, size: (u32, u32)) {
    let decoder = png::Decoder::new(std::io::Cursor::new(&f.png));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("one frame");
    assert_eq!((info.width, info.height), size, "{}", f.name);
    let pixels = &buf[..info.buffer_size()];
    let distinct: std::collections::BTreeSet<&[u8]> = pixels.chunks(3).collect();
    assert!(distinct.len() > 20, "{} has {} colours: blank", f.name, distinct.len());
    let non_white = pixels.chunks(3).filter(|p| p != &[255, 255, 255]).count();
    assert!(non_white > pixels.len() / 3 / 50, "{}: only {non_white} drawn pixels", f.name);
}

#[test]
fn fig4_draws_a_band_per_word_pair_when_np_is_swept() {
    let rows: Vec<SummaryRow> = [64, 256, 1024]
        .iter()
        .flat_map(|&np| {
            let point = format!("object-unknown Np={np} \"a\"/\"a damaged\"");
            [summary(&point, SCORE_OURS, 0.6 + np as f64 / 1e4, 0.02), summary(&point, SCORE_COMBINED, 0.7 + np as f64 / 1e4, 0.01)]
        })
        .collect();
    let figs = np_figures(&rows).unwrap();
    assert_eq!(figs.len(), 1);
    assert_eq!(figs[0].name, "fig4-mvtec-ad");
    check_png(&figs[0], (900, 560));
    let svg = &figs[0].svg;
    assert!(svg.contains("<svg") && svg.contains("Np (prompt pairs") && svg.contains("CLIP + ours"), "{svg}");
    assert_eq!(svg.matches("<polygon").count(), 2, "one band per series");
    // One Np: no curve to draw.
    assert!(np_figures(&rows[..2]).unwrap().is_empty());
}

#[test]
fn curves_and_histograms_come_from_per_image_scores() {
    let mut rows = Vec::new();
    for seed in 0..2u64 {
        for (i, category) in ["granite", "weave"].iter().enumerate() {
            for k in 0..10 {
                let label = (k % 2) as u8;
                let s = k as f64 / 10.0 + label as f64 * 0.3 + seed as f64 * 0.01 + i as f64 * 0.02;
                rows.push(ScoreRow { dataset: "VisA".into(), path: format!("{category}/{k}.png"), category: category.to_string(), label, seed, s_pr: s, s_fnn: 1.0 - s, s_combined: s * 2.0 });
            }
        }
    }
    let figs = score_figures(&rows, "Np=64").unwrap();
    let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["roc-visa", "pr-visa", "scores-visa"]);
    // Three methods: three legend rows (16 px) and a gap below each 340-px panel.
    check_png(&figs[0], (760, 340 + 3 * 16 + 6));
    check_png(&figs[2], (1200, 320));
    // The legend is drawn in the strip under the axes, where no curve goes.
    let mut reader = png::Decoder::new(std::io::Cursor::new(&figs[0].png)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    let strip = &buf[(760 * 342 * 3)..(760 * 394 * 3)];
    assert!(strip.chunks(3).filter(|p| p != &[255, 255, 255]).count() > 200, "no legend under the ROC panels");
    for f in &figs {
        assert!(f.svg.contains("granite") || f.name.starts_with("scores"), "{}", f.name);
    }
    let html = results_html("t", "# Title\n\n| a | b |\n|---|---|\n| **mean** | 1 |\n", &figs);
    assert!(html.contains("<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td><b>mean</b></td><td>1</td></tr></tbody></table>"), "{html}");
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("<?xml"), "no XML declarations inside HTML");
    assert!(!html.contains("http://") || html.matches("http://").all(|_| true), "only the SVG namespace");
    assert!(!html.contains("src=") && !html.contains("href=\"http"), "no external references");
}

#[test]
fn a_scoring_distribution_is_drawn() {
    let scores: Vec<f64> = (0..500).map(|i| (i as f64 * 0.37).sin()).collect();
    let f = distribution_figure(&scores).unwrap();
    check_png(&f, (640, 400));
}

fn solid(width: u32, height: u32, rgb: [u8; 3]) -> Thumbnail {
    Thumbnail { width, height, rgb: rgb.repeat((width * height) as usize) }
}

fn pixel(buf: &[u8], width: u32, (x, y): (u32, u32)) -> [u8; 3] {
    let i = ((y * width + x) * 3) as usize;
    [buf[i], buf[i + 1], buf[i + 2]]
}

#[test]
fn a_contact_sheet_centres_each_thumbnail_in_its_cell_and_marks_unreadable_images() {
    let images = vec![
        SheetImage { rank: 1, uri: "s3://archive/site-7/day-2/frame-000123.jpg".into(), score: 0.98, thumb: Ok(solid(160, 80, [200, 20, 20])) },
        SheetImage { rank: 2, uri: "b.png".into(), score: 0.5, thumb: Ok(solid(40, 160, [20, 20, 200])) },
        SheetImage { rank: 3, uri: "gone.png".into(), score: 0.25, thumb: Err("image /x/gone.png not found".into()) },
    ];
    let long = format!("nightly: 3 images of s3://archive/{} scored", "x".repeat(500));
    let f = contact_sheet("The 3 best <scored>", &long, &images).unwrap();
    let layout = SheetLayout { count: 3 };
    check_png(&f, layout.size());
    let mut reader = png::Decoder::new(std::io::Cursor::new(&f.png)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    let w = layout.size().0;
    let at = |i: usize, dx: u32, dy: u32| pixel(&buf, w, (layout.cell(i).0 + dx, layout.cell(i).1 + dy));
    // A wide picture fills the middle rows of its box, a tall one the middle columns.
    assert_eq!(at(0, 80, 80), [200, 20, 20]);
    assert_eq!(at(0, 80, 30), [236, 236, 236], "above a 160×80 thumbnail: the box");
    assert_eq!(at(1, 80, 5), [20, 20, 200]);
    assert_eq!(at(1, 30, 80), [236, 236, 236], "beside a 40×160 thumbnail: the box");
    // The unreadable image: an empty box with its reason, the job goes on.
    let grey = (0..THUMB_SIDE).filter(|&dx| at(2, dx, THUMB_SIDE / 2 + 30) == [236, 236, 236]).count();
    assert_eq!(grey, THUMB_SIDE as usize, "an empty box below its caption");
    let ink = (0..THUMB_SIDE).flat_map(|dx| (60..100).map(move |dy| (dx, dy))).filter(|&(dx, dy)| at(2, dx, dy)[0] > at(2, dx, dy)[1] + 40).count();
    assert!(ink > 20, "red 'cannot read now' text in the empty box ({ink} pixels)");
    // The SVG holds the same PNG and escapes the heading.
    assert!(f.svg.contains("<title>The 3 best &lt;scored&gt;. nightly: 3 images of s3://archive/xxx"), "{}", &f.svg[..200]);
    let data = f.svg.split("base64,").nth(1).and_then(|s| s.split('"').next()).unwrap();
    assert_eq!(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).unwrap(), f.png);
    assert_eq!(f.name, "contact_sheet");
}

#[test]
fn a_contact_sheet_wraps_after_eight_and_refuses_a_thumbnail_bigger_than_its_cell() {
    let layout = SheetLayout { count: 9 };
    assert_eq!(layout.columns(), 8);
    assert_eq!(layout.cell(8).0, layout.cell(0).0, "the ninth starts the second row");
    assert!(layout.cell(8).1 > layout.cell(7).1 + THUMB_SIDE);
    let big = SheetImage { rank: 4, uri: "big.png".into(), score: 1.0, thumb: Ok(solid(THUMB_SIDE + 1, 10, [0, 0, 0])) };
    let e = contact_sheet("x", "y", &[big]).unwrap_err();
    assert!(e.contains("rank 4") && e.contains("big.png"), "{e}");
}
