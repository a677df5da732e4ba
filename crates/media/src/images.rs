//! Still images and folders of them, for snapshot cameras and image sets.

use crate::error::MediaError;
use crate::sampler::Sampler;
use crate::source::{FrameSource, Pacer, SourceInfo, SourceOptions};
use crate::spec::is_image_path;
use base::{Clock, Frame};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct ImageSource {
    /// The single image, or the folder to (re-)list.
    root: PathBuf,
    is_folder: bool,
    files: Vec<PathBuf>,
    next: usize,
    /// Images presented so far over all passes: the pts clock.
    index: u64,
    opts: SourceOptions,
    sampler: Sampler,
    pacer: Pacer,
    info: SourceInfo,
    seq: u64,
    /// Decoded successfully in the current pass, to stop looping over a
    /// folder where nothing decodes.
    decoded_in_pass: u64,
    failed_in_pass: u64,
    last_failure: Option<String>,
    /// Set after an error is returned: the error is reported once, then end.
    done: bool,
}

fn read_dims(path: &Path) -> Result<(u32, u32), MediaError> {
    image::image_dimensions(path).map_err(|e| image_error(path, e))
}

fn image_error(path: &Path, e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::NotFound => {
            MediaError::NotFound {
                path: path.to_path_buf(),
            }
        }
        e => MediaError::Image {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    }
}

fn list_folder(dir: &Path) -> Result<Vec<PathBuf>, MediaError> {
    let rd = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => MediaError::NotFound {
            path: dir.to_path_buf(),
        },
        _ => MediaError::Io {
            path: dir.to_path_buf(),
            source: e,
        },
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_image_path(p))
        .collect();
    files.sort();
    Ok(files)
}

fn info_for(width: u32, height: u32, fps: f64, count: Option<u64>, path: &Path) -> SourceInfo {
    let fps = (fps.is_finite() && fps > 0.0).then_some(fps);
    SourceInfo {
        width,
        height,
        fps,
        is_live: false,
        duration: match (count, fps) {
            (Some(n), Some(f)) => Some(Duration::from_secs_f64(n as f64 / f)),
            _ => None,
        },
        frame_count: count,
        codec: image::ImageFormat::from_path(path)
            .ok()
            .map(|f| format!("{f:?}").to_ascii_lowercase()),
    }
}

impl ImageSource {
    pub(crate) fn probe_image(path: &Path) -> Result<SourceInfo, MediaError> {
        let (w, h) = read_dims(path)?;
        Ok(info_for(
            w,
            h,
            SourceOptions::default().image_fps,
            Some(1),
            path,
        ))
    }

    pub(crate) fn probe_folder(dir: &Path, fps: f64) -> Result<SourceInfo, MediaError> {
        let files = list_folder(dir)?;
        let first = files.first().ok_or_else(|| MediaError::EmptyFolder {
            path: dir.to_path_buf(),
        })?;
        let (w, h) = read_dims(first)?;
        Ok(info_for(w, h, fps, Some(files.len() as u64), first))
    }

    pub(crate) fn open_image(
        path: &Path,
        opts: &SourceOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MediaError> {
        // Decode errors surface at open, where a bad config is reported.
        let (w, h) = read_dims(path)?;
        let info = info_for(w, h, opts.image_fps, Some(1), path);
        Ok(Self::new(
            path,
            false,
            vec![path.to_path_buf()],
            info,
            opts,
            clock,
        ))
    }

    pub(crate) fn open_folder(
        dir: &Path,
        opts: &SourceOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MediaError> {
        let files = list_folder(dir)?;
        let Some(first) = files.first() else {
            return Err(MediaError::EmptyFolder {
                path: dir.to_path_buf(),
            });
        };
        // Sizes may differ between images; the first one stands for the folder.
        let (w, h) = read_dims(first).unwrap_or((0, 0));
        let info = info_for(w, h, opts.image_fps, Some(files.len() as u64), first);
        Ok(Self::new(dir, true, files, info, opts, clock))
    }

    fn new(
        root: &Path,
        is_folder: bool,
        files: Vec<PathBuf>,
        info: SourceInfo,
        opts: &SourceOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ImageSource {
            root: root.to_path_buf(),
            is_folder,
            files,
            next: 0,
            index: 0,
            sampler: Sampler::new(opts.target_fps),
            pacer: Pacer::new(clock, opts),
            opts: opts.clone(),
            info,
            seq: 0,
            decoded_in_pass: 0,
            failed_in_pass: 0,
            last_failure: None,
            done: false,
        }
    }

    fn pts_ms(&self, index: u64) -> i64 {
        let fps = self.info.fps.unwrap_or(1.0);
        (index as f64 * 1000.0 / fps).round() as i64
    }

    /// Starts another pass when looping. Folders are re-listed so snapshots
    /// added meanwhile are picked up; a single image is re-read, so a camera
    /// that overwrites one JPEG works.
    fn restart(&mut self) -> Result<bool, MediaError> {
        if self.decoded_in_pass == 0 && self.failed_in_pass > 0 {
            return Err(MediaError::Image {
                path: self.root.clone(),
                reason: format!(
                    "none of its {} images decode; last error: {}",
                    self.failed_in_pass,
                    self.last_failure.as_deref().unwrap_or("?")
                ),
            });
        }
        let cancelled = self.opts.cancel.as_ref().is_some_and(|c| c.is_triggered());
        if !self.opts.loop_file || self.decoded_in_pass == 0 || cancelled {
            return Ok(false);
        }
        if self.is_folder {
            self.files = list_folder(&self.root)?;
        }
        self.next = 0;
        self.decoded_in_pass = 0;
        self.failed_in_pass = 0;
        Ok(!self.files.is_empty())
    }
}

impl FrameSource for ImageSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, MediaError> {
        if self.done {
            return Ok(None);
        }
        let r = self.next_inner();
        if r.is_err() {
            self.done = true;
        }
        r
    }

    fn info(&self) -> SourceInfo {
        self.info.clone()
    }
}

impl ImageSource {
    fn next_inner(&mut self) -> Result<Option<Frame>, MediaError> {
        loop {
            if self.next >= self.files.len() && !self.restart()? {
                return Ok(None);
            }
            let path = self.files[self.next].clone();
            self.next += 1;
            let pts_ms = self.pts_ms(self.index);
            self.index += 1;
            // Sampling by pts happens before decoding, so skipped images cost nothing.
            if !self.sampler.keep(pts_ms * 1000) {
                continue;
            }
            let img = match image::open(&path) {
                Ok(img) => img.into_rgb8(),
                // One bad snapshot should not stop a folder; a single image
                // has nothing else to show, so its failure is the answer.
                Err(e) if self.is_folder => {
                    tracing::warn!(image = %path.display(), "skipping undecodable image: {e}");
                    self.failed_in_pass += 1;
                    self.last_failure = Some(format!("{}: {e}", path.display()));
                    continue;
                }
                Err(e) => return Err(image_error(&path, e)),
            };
            self.decoded_in_pass += 1;
            self.pacer.wait_for(pts_ms);
            let (w, h) = img.dimensions();
            let frame = Frame::new(
                self.opts.camera.clone(),
                self.seq,
                self.pacer.ts(pts_ms),
                pts_ms,
                w,
                h,
                img.into_raw(),
            );
            self.seq += 1;
            return Ok(Some(frame));
        }
    }
}
