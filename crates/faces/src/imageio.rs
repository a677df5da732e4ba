//! Photo loading and resizing shared by the stages.

use crate::error::FacesError;
use fast_image_resize::{
    images::Image, images::ImageRef, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use image::{ImageDecoder, ImageReader, RgbImage};
use std::path::Path;

/// Reads a JPEG/PNG as packed RGB8, upright: phone photos store their
/// rotation in EXIF, and a face lying on its side is neither detected nor
/// aligned well, so the orientation is applied here once.
pub fn load_photo(path: &Path) -> Result<RgbImage, FacesError> {
    let err = |reason: String| FacesError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let reader = ImageReader::open(path)
        .map_err(|e| err(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    let mut decoder = reader.into_decoder().map_err(|e| err(e.to_string()))?;
    let orientation = decoder.orientation().ok();
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| err(e.to_string()))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let rgb = img.to_rgb8();
    if rgb.width() == 0 || rgb.height() == 0 {
        return Err(err("the image is empty".into()));
    }
    Ok(rgb)
}

/// Checks a packed RGB8 buffer's size, so a wrong caller buffer is an error
/// and never an out-of-bounds panic.
pub(crate) fn check_rgb(rgb: &[u8], w: u32, h: u32) -> Result<(), FacesError> {
    if w == 0 || h == 0 || rgb.len() != w as usize * h as usize * 3 {
        return Err(FacesError::InvalidImage(format!(
            "{w}x{h} image with {} bytes; expected packed RGB8 ({} bytes)",
            rgb.len(),
            w as usize * h as usize * 3
        )));
    }
    Ok(())
}

/// Bilinear resize (OpenCV-like, as the models were trained with
/// `cv2.INTER_LINEAR`) of the `crop` region (x, y, w, h in source pixels) of a
/// packed RGB8 image to `nw`×`nh`.
pub(crate) fn resize_rgb(
    resizer: &mut Resizer,
    rgb: &[u8],
    w: u32,
    h: u32,
    crop: Option<(f64, f64, f64, f64)>,
    nw: u32,
    nh: u32,
) -> Result<Vec<u8>, FacesError> {
    check_rgb(rgb, w, h)?;
    let mut out = vec![0u8; nw as usize * nh as usize * 3];
    let src = ImageRef::new(w, h, rgb, PixelType::U8x3)
        .map_err(|e| FacesError::InvalidImage(e.to_string()))?;
    let mut dst = Image::from_slice_u8(nw, nh, &mut out, PixelType::U8x3)
        .map_err(|e| FacesError::InvalidImage(e.to_string()))?;
    let mut opts = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear));
    if let Some((x, y, cw, ch)) = crop {
        opts = opts.crop(x, y, cw, ch);
    }
    resizer
        .resize(&src, &mut dst, &opts)
        .map_err(|e| FacesError::InvalidImage(format!("resize: {e}")))?;
    Ok(out)
}

/// Colour order of a network input's planes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Planes {
    Rgb,
    Bgr,
}

/// Writes a packed RGB8 `nw`×`nh` image into the top-left of the three planes
/// of an NCHW input `stride` values wide (`out` holds 3 planes of
/// `out.len() / 3`), each value mapped by `norm`; the rest of `out` (the
/// padding) keeps what it holds.
pub(crate) fn fill_planes(
    px: &[u8],
    (nw, nh): (usize, usize),
    stride: usize,
    order: Planes,
    out: &mut [f32],
    norm: impl Fn(u8) -> f32,
) {
    let plane = out.len() / 3;
    let (first, rest) = out.split_at_mut(plane);
    let (green, last) = rest.split_at_mut(plane);
    let (red, blue) = match order {
        Planes::Rgb => (first, last),
        Planes::Bgr => (last, first),
    };
    for y in 0..nh {
        let src = &px[y * nw * 3..(y + 1) * nw * 3];
        let o = y * stride;
        for (x, p) in src.chunks_exact(3).enumerate() {
            red[o + x] = norm(p[0]);
            green[o + x] = norm(p[1]);
            blue[o + x] = norm(p[2]);
        }
    }
}
