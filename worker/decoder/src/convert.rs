//! Decoded frames to packed RGB24, as PyAV's `to_ndarray(format="rgb24")`
//! makes them: swscale with `SWS_BILINEAR`, the frame's own colour space
//! and range (PyAV ≥ 17 hands them to `sws_scale_frame`), no resizing.

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next::util::color::{Range, Space};
use ffmpeg_next::util::frame::Video as VideoFrame;

/// A scaler for one input geometry, rebuilt when a frame's format, size,
/// colour space or range changes mid-stream.
pub struct RgbConverter {
    scaler: Option<(Key, Scaler)>,
    out: VideoFrame,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    format: Pixel,
    width: u32,
    height: u32,
    space: Space,
    range: Range,
}

impl RgbConverter {
    pub fn new() -> RgbConverter {
        RgbConverter { scaler: None, out: VideoFrame::empty() }
    }

    /// `frame` as `width × height × 3` bytes, rows packed. `Err` when the
    /// frame has no pixel format or no size: building a scaler for one
    /// aborts the process, so it is refused here first.
    pub fn rgb(&mut self, frame: &VideoFrame) -> Result<Vec<u8>, String> {
        let key = Key { format: frame.format(), width: frame.width(), height: frame.height(), space: frame.color_space(), range: frame.color_range() };
        if key.format == Pixel::None {
            return Err("a decoded frame has no pixel format".to_string());
        }
        if key.width == 0 || key.height == 0 {
            return Err(format!("a decoded frame is {}×{}", key.width, key.height));
        }
        // Checked before a scaler or a buffer is made for it: a header may
        // state any size.
        if u64::from(key.width) * u64::from(key.height) * 3 > rwclip_video::wire::MAX_FRAME_BYTES {
            return Err(format!("a decoded frame is {}×{}, larger than a frame may be", key.width, key.height));
        }
        if self.scaler.as_ref().map(|(k, _)| *k) != Some(key) {
            let mut scaler = Scaler::get(key.format, key.width, key.height, Pixel::RGB24, key.width, key.height, Flags::BILINEAR)
                .map_err(|e| format!("no conversion from {:?} to RGB: {e}", key.format))?;
            set_colorspace(&mut scaler, key.space, key.range);
            self.scaler = Some((key, scaler));
            self.out = VideoFrame::empty();
        }
        let (_, scaler) = self.scaler.as_mut().expect("built above");
        scaler.run(frame, &mut self.out).map_err(|e| format!("conversion to RGB failed: {e}"))?;
        let (w, h) = (key.width as usize, key.height as usize);
        let stride = self.out.stride(0);
        let data = self.out.data(0);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            rgb.extend_from_slice(&data[row * stride..row * stride + w * 3]);
        }
        Ok(rgb)
    }
}

/// The YUV→RGB coefficients and input range of the frame's tags; untagged
/// frames get BT.601 and limited range, swscale's defaults.
fn set_colorspace(scaler: &mut Scaler, space: Space, range: Range) {
    use ffmpeg_next::ffi;
    let coefficients = match space {
        Space::BT709 => ffi::SWS_CS_ITU709,
        Space::FCC => ffi::SWS_CS_FCC,
        Space::SMPTE240M => ffi::SWS_CS_SMPTE240M,
        Space::BT2020NCL | Space::BT2020CL => ffi::SWS_CS_BT2020,
        _ => ffi::SWS_CS_DEFAULT,
    } as i32;
    // SAFETY: the context is valid for the scaler's lifetime; the tables
    // are static ones swscale owns. Reading back the current details keeps
    // what swscale derived from the formats (a yuvj format's full range).
    unsafe {
        let ctx = scaler.as_mut_ptr();
        let mut inv: *mut i32 = std::ptr::null_mut();
        let mut table: *mut i32 = std::ptr::null_mut();
        let (mut src_range, mut dst_range, mut brightness, mut contrast, mut saturation) = (0, 0, 0, 0, 0);
        if ffi::sws_getColorspaceDetails(ctx, &mut inv, &mut src_range, &mut table, &mut dst_range, &mut brightness, &mut contrast, &mut saturation) < 0 {
            return;
        }
        let src_range = if range == Range::JPEG { 1 } else { src_range };
        let coeffs = ffi::sws_getCoefficients(coefficients);
        ffi::sws_setColorspaceDetails(ctx, coeffs, src_range, table, dst_range, brightness, contrast, saturation);
    }
}
