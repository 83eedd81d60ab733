//! open_clip's eval transform (open-clip-torch 3.3.0, `image_transform(size,
//! is_train=False)`), reproduced on `u8` pixels without Python:
//! `Resize(size, BICUBIC)` on the shortest side → `CenterCrop(size)` →
//! `convert("RGB")` → `ToTensor` → `Normalize(mean, std)`, output CHW `f32`.
//!
//! open_clip resizes the image *in the mode PIL opened it in* and converts to
//! RGB only after cropping, and Pillow resizes some modes differently:
//! RGBA/LA are premultiplied by alpha around the resize, palette and 1-bit
//! images are resized with nearest neighbour. [`decode`] recovers the PIL mode
//! and [`resample`] follows Pillow for each, so palette PNGs and transparent
//! PNGs give the same tensors as open_clip, not just RGB ones. JPEGs are
//! decoded by libjpeg-turbo's code, as Pillow decodes them (see `jpeg`).
//!
//! Test-time multi-crop (the paper's default, §4.2, following WinCLIP) adds
//! [`View::Corner`] views: torchvision's `Resize(round(size / 0.875))` then
//! `FiveCrop(size)`'s four corners (the centre crop is the eval view itself).

mod decode;
mod geometry;
mod jpeg;
mod pixels;
mod resample;
mod tensor;

use std::path::{Path, PathBuf};

use rwclip_job::clip_config::{OPENAI_MEAN, OPENAI_STD};
use pixels::{Decoded, Layout};
use resample::Filter;

/// Why an image could not be turned into a tensor; each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageLoadError {
    #[error("cannot read image file {}: {source}", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot decode image {name}: {source}")]
    Undecodable {
        name: String,
        #[source]
        source: image::ImageError,
    },
    #[error("image {name} is empty (no bytes, or zero width or height)")]
    Empty { name: String },
    #[error("mask {mask} is {}×{} but its image {image} is {}×{}: a mask must be its image's size", .mask_size.0, .mask_size.1, .image_size.0, .image_size.1)]
    MaskSize { mask: String, image: String, mask_size: (u32, u32), image_size: (u32, u32) },
}

/// An encoded image's width and height, read from its header alone.
fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
}

/// A ground-truth mask drawn for another image size would be resized into
/// a different geometry than its image: refused, naming both files. (An
/// image whose header does not read fails on its own, elsewhere.)
pub fn check_mask_size(mask_bytes: &[u8], mask: &str, image_bytes: &[u8], image: &str) -> Result<(), ImageLoadError> {
    match (dimensions(mask_bytes), dimensions(image_bytes)) {
        (Some(mask_size), Some(image_size)) if mask_size != image_size => Err(ImageLoadError::MaskSize { mask: mask.to_string(), image: image.to_string(), mask_size, image_size }),
        _ => Ok(()),
    }
}

/// Which `size × size` window of an image a tensor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// open_clip's eval transform: resize the shortest side to `size`, centre crop.
    Center,
    /// Resize the shortest side to [`corner_resize_side`], then this corner.
    Corner(Corner),
}

/// `FiveCrop`'s corners, in its output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

impl Corner {
    pub const ALL: [Corner; 4] = [Corner::TopLeft, Corner::TopRight, Corner::BottomLeft, Corner::BottomRight];

    /// Short name used in artifact part names.
    pub fn label(self) -> &'static str {
        match self {
            Corner::TopLeft => "tl",
            Corner::TopRight => "tr",
            Corner::BottomLeft => "bl",
            Corner::BottomRight => "br",
        }
    }
}

/// The shortest side corner crops are cut from: the classic 224 → 256 ratio
/// (`size / 0.875`, rounded), so each corner covers most of the image while
/// the four of them still differ (274 for 240).
pub fn corner_resize_side(size: u32) -> u32 {
    (f64::from(size) / 0.875).round() as u32
}

/// The eval transform for one square model input size.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// Side of the square model input (open_clip's `image_size`).
    pub image_size: u32,
    /// Per-channel RGB mean subtracted after scaling pixels to [0, 1].
    pub mean: [f32; 3],
    /// Per-channel RGB standard deviation divided by after the mean.
    pub std: [f32; 3],
}

impl Preprocess {
    /// The transform open_clip uses for OpenAI-style CLIP models.
    pub fn openai(image_size: u32) -> Preprocess {
        Preprocess { image_size, mean: OPENAI_MEAN, std: OPENAI_STD }
    }

    /// Reads, decodes and transforms one image file into `3 * S * S` values (CHW).
    pub fn load(&self, path: &Path) -> Result<Vec<f32>, ImageLoadError> {
        self.load_view(path, View::Center)
    }

    /// [`Preprocess::load`] for any [`View`] of the file.
    pub fn load_view(&self, path: &Path, view: View) -> Result<Vec<f32>, ImageLoadError> {
        let bytes = std::fs::read(path)
            .map_err(|source| ImageLoadError::Unreadable { path: path.to_path_buf(), source })?;
        let mut decoded = decode::decode(&bytes, &path.display().to_string())?;
        Ok(self.transform_decoded(&mut decoded, view))
    }

    /// Decodes and transforms an encoded image (PNG, JPEG, BMP) held in memory,
    /// e.g. fetched from object storage; `name` identifies it in errors.
    pub fn load_bytes(&self, bytes: &[u8], name: &str) -> Result<Vec<f32>, ImageLoadError> {
        self.load_bytes_view(bytes, name, View::Center)
    }

    /// [`Preprocess::load_bytes`] for any [`View`] of the image.
    pub fn load_bytes_view(&self, bytes: &[u8], name: &str, view: View) -> Result<Vec<f32>, ImageLoadError> {
        let mut decoded = decode::decode(bytes, name)?;
        Ok(self.transform_decoded(&mut decoded, view))
    }

    /// Every view in `views` of one encoded image, decoded once (multi-crop's
    /// five views cost one decode). Each view is what
    /// [`Preprocess::load_bytes_view`] gives.
    pub fn load_bytes_views(&self, bytes: &[u8], name: &str, views: &[View]) -> Result<Vec<Vec<f32>>, ImageLoadError> {
        let decoded = decode::decode(bytes, name)?;
        // A view may premultiply alpha in place: each starts from the decode.
        Ok(views.iter().map(|&v| self.transform_decoded(&mut decoded.clone(), v)).collect())
    }

    /// A ground-truth mask through the eval view's geometry: the shortest
    /// side resized to S with Pillow's nearest neighbour (source pixel
    /// `floor((x + 0.5) * scale)`, summed as Pillow sums it), the centre S×S kept as `CenterCrop`
    /// keeps it, and a pixel anomalous (1) where the mask's value is above
    /// half its range (> 127 of 255; a colour mask by its luma). `S * S`
    /// bytes of 0/1, row-major.
    pub fn load_mask_bytes(&self, bytes: &[u8], name: &str) -> Result<Vec<u8>, ImageLoadError> {
        if bytes.is_empty() {
            return Err(ImageLoadError::Empty { name: name.to_string() });
        }
        let luma = image::load_from_memory(bytes)
            .map_err(|source| ImageLoadError::Undecodable { name: name.to_string(), source })?
            .to_luma8();
        let (width, height) = luma.dimensions();
        if width == 0 || height == 0 {
            return Err(ImageLoadError::Empty { name: name.to_string() });
        }
        let size = self.image_size;
        let (rw, rh) = geometry::shortest_side_size(width, height, size);
        let crop = geometry::CropWindow::center(rw, rh, size);
        // Pillow's nearest resize is an affine transform that steps the
        // source coordinate by repeated addition from half a step in; the
        // sums' rounding decides some pixels, so they are formed the same way.
        let sources = |src_len: u32, dst_len: u32| -> Vec<u32> {
            let step = f64::from(src_len) / f64::from(dst_len);
            let mut at = step * 0.5;
            (0..dst_len)
                .map(|_| {
                    let i = (at as u32).min(src_len - 1);
                    at += step;
                    i
                })
                .collect()
        };
        let (xs, ys) = (sources(width, rw), sources(height, rh));
        let mut out = Vec::with_capacity((size * size) as usize);
        for y in 0..size {
            let sy = ys[(crop.top + y) as usize];
            for x in 0..size {
                let sx = xs[(crop.left + x) as usize];
                out.push(u8::from(luma.get_pixel(sx, sy).0[0] > 127));
            }
        }
        Ok(out)
    }

    /// Transforms an RGB image already in memory into `3 * S * S` values (CHW).
    ///
    /// A zero-sized image (which the loaders reject as [`ImageLoadError::Empty`])
    /// yields the tensor of an all-black image rather than a panic.
    pub fn transform(&self, img: &image::RgbImage) -> Vec<f32> {
        let (width, height) = img.dimensions();
        self.resize_crop_normalize(img.as_raw(), width, height, Layout::Rgb, Filter::Bicubic, false, View::Center)
    }

    /// Every view in `views` of a packed RGB24 frame already decoded (a
    /// video frame), each as [`Preprocess::transform`] makes the centre one.
    pub fn rgb_views(&self, rgb: &[u8], width: u32, height: u32, views: &[View]) -> Vec<Vec<f32>> {
        views.iter().map(|&v| self.resize_crop_normalize(rgb, width, height, Layout::Rgb, Filter::Bicubic, false, v)).collect()
    }

    /// The shortest side the image is resized to before `view` is cut.
    fn resize_side(&self, view: View) -> u32 {
        match view {
            View::Center => self.image_size,
            View::Corner(_) => corner_resize_side(self.image_size),
        }
    }

    fn transform_decoded(&self, decoded: &mut Decoded, view: View) -> Vec<f32> {
        let (width, height) = (decoded.width, decoded.height);
        let resized = geometry::shortest_side_size(width, height, self.resize_side(view)) != (width, height);
        // Pillow resizes LA/RGBA images premultiplied by alpha (and skips the
        // round trip when the size does not change); the colour of a fully
        // transparent pixel therefore does not bleed into its neighbours.
        let premultiplied =
            resized && decoded.layout.has_alpha() && decoded.filter == Filter::Bicubic;
        if premultiplied {
            resample::premultiply_alpha(&mut decoded.pixels, decoded.layout.channels());
        }
        self.resize_crop_normalize(
            &decoded.pixels,
            width,
            height,
            decoded.layout,
            decoded.filter,
            premultiplied,
            view,
        )
    }

    fn resize_crop_normalize(
        &self,
        pixels: &[u8],
        width: u32,
        height: u32,
        layout: Layout,
        filter: Filter,
        premultiplied: bool,
        view: View,
    ) -> Vec<f32> {
        let size = self.image_size;
        let lut = tensor::NormalizeLut::new(self.mean, self.std);
        if width == 0 || height == 0 {
            return tensor::black_image(size, &lut);
        }
        let (new_width, new_height) = geometry::shortest_side_size(width, height, self.resize_side(view));
        let channels = layout.channels();
        let resized;
        let pixels = if (new_width, new_height) == (width, height) {
            pixels
        } else {
            resized = resample::resize(pixels, width, height, channels, new_width, new_height, filter);
            &resized[..]
        };
        let crop = match view {
            View::Center => geometry::CropWindow::center(new_width, new_height, size),
            View::Corner(c) => geometry::CropWindow::corner(new_width, new_height, size, c),
        };
        tensor::crop_to_chw(pixels, new_width, layout, premultiplied, crop, &lut)
    }
}

/// Decodes an encoded image to RGB the way PIL's `Image.open(..).convert("RGB")`
/// does: alpha dropped without compositing, grey replicated, palette expanded,
/// CMYK converted, 16-bit samples reduced to their high byte. JPEGs are decoded
/// with libjpeg-turbo's code and Pillow's settings, so their pixels are Pillow's. `name` identifies it in errors.
pub fn decode_rgb(bytes: &[u8], name: &str) -> Result<image::RgbImage, ImageLoadError> {
    Ok(decode::decode(bytes, name)?.into_rgb())
}

/// A thumbnail of an encoded image for people to look at (not for the
/// model): decoded as [`decode_rgb`], box-filtered to at most `side` pixels
/// on its longer side, aspect kept.
pub fn thumbnail_rgb(bytes: &[u8], name: &str, side: u32) -> Result<image::RgbImage, ImageLoadError> {
    Ok(fit_thumbnail(decode_rgb(bytes, name)?, side))
}

/// A thumbnail of a decoded `width × height` RGB24 frame; `None` when
/// `rgb` is not that size.
pub fn thumbnail_of_frame(width: u32, height: u32, rgb: Vec<u8>, side: u32) -> Option<image::RgbImage> {
    image::RgbImage::from_raw(width, height, rgb).map(|rgb| fit_thumbnail(rgb, side))
}

/// `rgb` box-filtered to at most `side` pixels on its longer side.
fn fit_thumbnail(rgb: image::RgbImage, side: u32) -> image::RgbImage {
    let (w, h) = rgb.dimensions();
    if w.max(h) <= side {
        return rgb;
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let fit = |n: u32| ((f64::from(n) * scale).round() as u32).clamp(1, side);
    image::imageops::thumbnail(&rgb, fit(w), fit(h))
}
