use super::*;

/// The PNG's pixels: decoded, the size asked for, and not one colour.
fn check_png(f: &Figure, size: (u32, u32)) {
    let drawn = f.drawn().expect("a PNG");
    assert_eq!((drawn.width, drawn.height), size, "{}", f.name);
    assert!(drawn.colours > 20, "{} has {} colours: blank", f.name, drawn.colours);
    assert!(drawn.non_white > (drawn.width * drawn.height) as usize / 50, "{}: only {} drawn pixels", f.name, drawn.non_white);
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
        SheetImage { rank: 3, uri: "gone.png".into(), score: 0.25, thumb: Err("missing".into()) },
    ];
    let long = format!("nightly: 3 images of s3://archive/{} scored", "x".repeat(500));
    let f = contact_sheet("contact_sheet", "The 3 best <scored>", &long, &images).unwrap();
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
    let e = contact_sheet("contact_sheet", "x", "y", &[big]).unwrap_err();
    assert!(e.contains("rank 4") && e.contains("big.png"), "{e}");
}
