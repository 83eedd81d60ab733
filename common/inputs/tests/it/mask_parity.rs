//! Ground-truth masks through the eval view's geometry equal Pillow's
//! nearest-neighbour resize of the shortest side and torchvision's centre
//! crop, thresholded at half the range, on odd sizes, both orientations,
//! grey and colour masks, and sizes already at the model's.

use rwclip_inputs::preprocess::Preprocess;
use rwclip_test_support::python;

/// Writes a mask PNG of `w`×`h` with scattered blobs and thin lines (so an
/// off-by-one source pixel shows), and returns Pillow's answer as 0/1 bytes.
const PIL_MASK: &str = r#"
import sys
import numpy as np
from PIL import Image
import torchvision.transforms as T
path, w, h, size, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = np.random.default_rng(w * 1000 + h)
m = np.zeros((h, w), dtype=np.uint8)
for _ in range(6):
    y, x = rng.integers(0, h), rng.integers(0, w)
    m[max(0, y - 3):y + 4, max(0, x - 5):x + 6] = 255
m[:, w // 3] = 255
m[h // 2, :] = 200
m[h // 4, :] = 100
img = Image.fromarray(m)
if mode == "RGB":
    img = Image.merge("RGB", [img, img, img])
img.save(path)
view = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.NEAREST), T.CenterCrop(size)])(Image.open(path).convert("L"))
print("".join("1" if v > 127 else "0" for v in np.asarray(view).ravel()))
"#;

#[test]
fn masks_follow_the_image_geometry_as_pillow_and_torchvision_do() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (w, h, size, mode) in [(700, 700, 240, "L"), (1024, 768, 240, "L"), (333, 517, 240, "RGB"), (240, 240, 240, "L"), (97, 150, 64, "L"), (1000, 999, 224, "RGB")] {
        let path = dir.path().join(format!("m-{w}x{h}.png"));
        let expected = python::run(PIL_MASK, &[path.to_str().unwrap(), &w.to_string(), &h.to_string(), &size.to_string(), mode]);
        let expected: Vec<u8> = expected.trim().bytes().map(|b| b - b'0').collect();
        let ours = Preprocess::openai(size).load_mask_bytes(&std::fs::read(&path).unwrap(), "mask").unwrap();
        assert_eq!(ours.len(), (size * size) as usize);
        let differing = ours.iter().zip(&expected).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 0, "{w}×{h} {mode} → {size}: {differing} pixels differ from Pillow + torchvision");
        assert!(ours.iter().any(|&v| v == 1) && ours.iter().any(|&v| v == 0));
        checked += 1;
    }
    assert_eq!(checked, 6);
    let err = Preprocess::openai(64).load_mask_bytes(b"", "empty.png").unwrap_err();
    assert!(err.to_string().contains("empty.png"), "{err}");
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::new(w, h)).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

#[test]
fn a_mask_of_another_size_than_its_image_is_an_error_naming_both() {
    use rwclip_inputs::preprocess::check_mask_size;
    let err = check_mask_size(&png(512, 512), "ground_truth/crack/000_mask.png", &png(1024, 1024), "test/crack/000.png").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ground_truth/crack/000_mask.png") && text.contains("test/crack/000.png") && text.contains("512×512") && text.contains("1024×1024"), "{text}");
    check_mask_size(&png(300, 200), "m.png", &png(300, 200), "i.png").unwrap();
    // An image whose header does not read is its own error, elsewhere.
    check_mask_size(&png(300, 200), "m.png", b"not an image", "i.png").unwrap();
}
