//! JPEG decoding with libjpeg-turbo's code, as Pillow decodes.
//!
//! Pillow bundles libjpeg-turbo and decodes with its defaults: accurate
//! integer IDCT (`JDCT_ISLOW`) and "fancy" (triangle-filter) chroma
//! upsampling. Other decoders round the IDCT, the upsampling and the YCbCr
//! conversion differently by a few levels, which is enough to miss open_clip
//! parity. `mozjpeg-sys` builds libjpeg-turbo's decoder from C (mozjpeg only
//! changes the encoder); its SIMD paths, used when nasm was present at build
//! time, are bit-exact with the C ones, so the output does not depend on it.
//!
//! Modes follow Pillow's JPEG plugin: one component → `L`, three → `RGB`
//! (libjpeg converts YCbCr), four → `CMYK`, stored inverted by Adobe's
//! convention which Pillow always assumes.
//!
//! libjpeg reports fatal errors through `error_exit`, which by default calls
//! `exit()`. Ours unwinds instead (the C is compiled with `-fexceptions`);
//! the unwind is caught at [`decode`] and becomes an error naming the file.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_ulong};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use mozjpeg_sys::{
    jpeg_common_struct, jpeg_create_decompress, jpeg_decompress_struct, jpeg_destroy_decompress,
    jpeg_error_mgr, jpeg_finish_decompress, jpeg_mem_src, jpeg_read_header, jpeg_read_scanlines,
    jpeg_start_decompress, jpeg_std_error, J_COLOR_SPACE, J_DCT_METHOD, JWRN_JPEG_EOF,
};

use super::pixels::{Decoded, Layout};
use super::resample::Filter;

/// Scanlines requested per `jpeg_read_scanlines` call (≥ libjpeg's
/// `rec_outbuf_height`, which is at most 4 for the sampling factors it allows).
const ROWS_PER_CALL: usize = 16;

/// The JPEG signature: SOI marker followed by the start of another marker.
pub(super) fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Decodes a JPEG into Pillow's mode for it; `Err` carries libjpeg's message.
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    match catch_unwind(AssertUnwindSafe(|| decode_unwinding(bytes))) {
        Ok(decoded) => Ok(decoded),
        Err(payload) => match payload.downcast::<LibjpegError>() {
            Ok(error) => Err(error.0),
            // Not libjpeg's: a bug of ours, which must stay a panic.
            Err(other) => resume_unwind(other),
        },
    }
}

/// The unwind payload raised by [`error_exit`].
struct LibjpegError(String);

/// Owns a libjpeg decompressor; destroying it on drop also cleans up after
/// an unwind from the middle of decoding, as libjpeg allows after `longjmp`.
struct Decompressor {
    cinfo: Box<jpeg_decompress_struct>,
    // libjpeg keeps a pointer to it in `cinfo.common.err`: boxed so it stays put.
    _errors: Box<jpeg_error_mgr>,
}

impl Decompressor {
    fn new() -> Decompressor {
        // SAFETY: both structs are plain C data for which all-zero is the
        // state libjpeg expects before `jpeg_std_error`/`jpeg_create_decompress`.
        let mut errors: Box<jpeg_error_mgr> = Box::new(unsafe { std::mem::zeroed() });
        let mut cinfo: Box<jpeg_decompress_struct> = Box::new(unsafe { std::mem::zeroed() });
        unsafe {
            jpeg_std_error(&mut errors);
            errors.error_exit = Some(error_exit);
            errors.emit_message = Some(emit_message);
            cinfo.common.err = &mut *errors;
            jpeg_create_decompress(&mut *cinfo);
        }
        Decompressor { cinfo, _errors: errors }
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: created by `jpeg_create_decompress`; destroy is valid in any state.
        unsafe { jpeg_destroy_decompress(&mut self.cinfo) }
    }
}

/// Decodes, unwinding with a [`LibjpegError`] on any libjpeg error.
fn decode_unwinding(bytes: &[u8]) -> Decoded {
    let mut decompressor = Decompressor::new();
    let cinfo = &mut *decompressor.cinfo;
    // SAFETY: `bytes` outlives `decompressor`; libjpeg only reads it. Every
    // libjpeg call below either returns normally or unwinds through
    // `error_exit`, after which `Decompressor::drop` destroys the state.
    unsafe {
        jpeg_mem_src(cinfo, bytes.as_ptr(), bytes.len() as c_ulong);
        jpeg_read_header(cinfo, 1);
        let (out_color_space, layout) = match cinfo.jpeg_color_space {
            J_COLOR_SPACE::JCS_GRAYSCALE => (J_COLOR_SPACE::JCS_GRAYSCALE, Layout::Gray),
            J_COLOR_SPACE::JCS_CMYK | J_COLOR_SPACE::JCS_YCCK => (J_COLOR_SPACE::JCS_CMYK, Layout::Cmyk),
            _ => (J_COLOR_SPACE::JCS_RGB, Layout::Rgb),
        };
        cinfo.out_color_space = out_color_space;
        // libjpeg's defaults, which Pillow keeps outside `draft()`; set
        // explicitly because parity with Pillow depends on them.
        cinfo.dct_method = J_DCT_METHOD::JDCT_ISLOW;
        cinfo.do_fancy_upsampling = 1;
        jpeg_start_decompress(cinfo);

        let (width, height) = (cinfo.output_width, cinfo.output_height);
        let row_len = width as usize * layout.channels();
        debug_assert_eq!(cinfo.output_components as usize, layout.channels());
        let mut pixels = vec![0u8; row_len * height as usize];
        // Row pointers into `pixels`, handed to libjpeg a batch at a time
        // (it emits up to `rec_outbuf_height` rows per call).
        let mut rows: Vec<*mut u8> = pixels.chunks_exact_mut(row_len.max(1)).map(<[u8]>::as_mut_ptr).collect();
        while cinfo.output_scanline < height {
            let next = cinfo.output_scanline as usize;
            let batch = (rows.len() - next).min(ROWS_PER_CALL);
            // A corrupt stream yields grey rows and warnings, never zero rows
            // without an error; the check keeps a broken library from looping.
            if jpeg_read_scanlines(cinfo, rows[next..].as_mut_ptr(), batch as u32) == 0 {
                resume_unwind(Box::new(LibjpegError("decoder returned no scanline".into())));
            }
        }
        drop(rows);
        jpeg_finish_decompress(cinfo);
        if layout == Layout::Cmyk {
            // Pillow's rawmode "CMYK;I": Adobe stores CMYK inverted.
            pixels.iter_mut().for_each(|v| *v = 255 - *v);
        }
        Decoded { pixels, width, height, layout, filter: Filter::Bicubic }
    }
}

/// libjpeg's fatal-error hook: unwinds (see the module docs) with the message.
extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    let message = format_message(cinfo);
    resume_unwind(Box::new(LibjpegError(message)));
}

/// libjpeg's message hook. Warnings about corrupt data are ignored, as Pillow
/// ignores them, except running out of data: Pillow raises "image file is
/// truncated" there, while libjpeg's memory source would pad with grey.
/// Trace messages (levels ≥ 0) are dropped instead of printed.
extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, msg_level: c_int) {
    // SAFETY: `err` points at the boxed error manager of this decompressor.
    let code = unsafe { (*cinfo.err).msg_code };
    if msg_level < 0 && code == JWRN_JPEG_EOF {
        error_exit(cinfo);
    }
}

fn format_message(cinfo: &mut jpeg_common_struct) -> String {
    // libjpeg writes at most JMSG_LENGTH_MAX (200) bytes, NUL-terminated,
    // although the binding types the buffer as 80 bytes; give it 200.
    let buffer = UnsafeCell::new([0u8; 200]);
    // SAFETY: `err` is valid; `format_message` writes a C string into the
    // buffer, which is read back only after the call, through the cell.
    unsafe {
        if let Some(format) = (*cinfo.err).format_message {
            format(cinfo, &*(buffer.get() as *const [u8; 80]));
        }
        let text = &*buffer.get();
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        String::from_utf8_lossy(&text[..end]).into_owned()
    }
}
