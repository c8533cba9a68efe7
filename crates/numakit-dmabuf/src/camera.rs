//! A V4L2 capture device streaming into buffers it exports as DMA-BUFs
//! (`VIDIOC_EXPBUF`): the camera stage of the pipeline.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use numakit_root::Root;
use numakit_sys::Errno;
use numakit_sys::fd::{O_NONBLOCK, PollFlags, poll_one};
use numakit_sys::v4l2::{self, BufCapFlags, Memory, v4l2_fract, v4l2_pix_format};

use crate::buffer::DmaBuf;
use crate::error::{Error, Result};
use crate::pass::FrameFormat;
use crate::support::{Feature, Missing};

/// An open capture device.
#[derive(Debug)]
pub struct Camera {
    path: String,
    fd: OwnedFd,
    driver: String,
    streaming: bool,
}

/// A filled buffer handed out by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    /// Buffer index.
    pub index: u32,
    /// Bytes of frame data.
    pub bytes: u32,
    /// The driver's frame counter.
    pub sequence: u32,
}

impl Camera {
    /// Opens `path` (non-blocking) and checks it is a single-planar
    /// streaming capture device.
    pub fn open(root: &Root, path: &str) -> Result<Camera> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Missing::explain(root, Feature::Camera, path).into()
                }
                _ => Error::io(format!("opening {path}"), e),
            })?;
        let fd = OwnedFd::from(f);
        let cap = v4l2::querycap(fd.as_fd()).map_err(|e| match e {
            Errno::ENOTTY => Error::Invalid(format!("{path} is not a V4L2 device")),
            e => Error::os(format!("asking {path} what it is"), e),
        })?;
        if !v4l2::is_streaming_capture(&cap) {
            return Err(Error::Invalid(format!(
                "{path} ({}) is not a single-planar streaming capture device",
                v4l2::c_field(&cap.card)
            )));
        }
        Ok(Camera {
            path: path.into(),
            fd,
            driver: v4l2::c_field(&cap.driver),
            streaming: false,
        })
    }

    /// The driver's name (`vivid`).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// The device path.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn os<'a>(&'a self, what: &'a str) -> impl Fn(Errno) -> Error + 'a {
        move |e| Error::os(format!("{what} on {}", self.path), e)
    }

    /// Selects input `index` (vivid: 0 is its webcam).
    pub fn select_input(&self, index: u32) -> Result<()> {
        v4l2::s_input(self.fd.as_fd(), index).map_err(self.os("selecting the input"))
    }

    /// Asks for `width`×`height` in `fourcc`; returns what the driver chose.
    pub fn set_format(&self, fourcc: u32, width: u32, height: u32) -> Result<FrameFormat> {
        let want = v4l2_pix_format {
            width,
            height,
            pixelformat: fourcc,
            field: v4l2::FIELD_NONE,
            ..Default::default()
        };
        let got =
            v4l2::s_fmt_capture(self.fd.as_fd(), want).map_err(self.os("setting the format"))?;
        Ok(FrameFormat {
            fourcc: got.pixelformat,
            width: got.width,
            height: got.height,
            stride: got.bytesperline,
        })
    }

    /// Asks for `fps` frames per second; returns the rate set, if the
    /// driver lets the interval be set.
    pub fn set_rate(&self, fps: u32) -> Result<Option<f64>> {
        let want = v4l2_fract {
            numerator: 1,
            denominator: fps.max(1),
        };
        let got = v4l2::s_frame_interval(self.fd.as_fd(), want)
            .map_err(self.os("setting the frame rate"))?;
        Ok(got
            .filter(|f| f.numerator > 0)
            .map(|f| f.denominator as f64 / f.numerator as f64))
    }

    /// Has the driver allocate `count` buffers; returns how many it made
    /// and their size.
    pub fn request_buffers(&self, count: u32) -> Result<(u32, u32)> {
        let (n, caps) = v4l2::reqbufs(self.fd.as_fd(), count, Memory::Mmap)
            .map_err(self.os("requesting buffers"))?;
        if n == 0 {
            return Err(Error::Invalid(format!("{} gave no buffers", self.path)));
        }
        if !caps.is_empty() && !caps.contains(BufCapFlags::MMAP) {
            return Err(Error::Invalid(format!(
                "{} cannot allocate buffers itself",
                self.path
            )));
        }
        let info = v4l2::querybuf(self.fd.as_fd(), 0).map_err(self.os("asking about a buffer"))?;
        Ok((n, info.length))
    }

    /// Exports buffer `index` as a DMA-BUF.
    pub fn export(&self, index: u32) -> Result<DmaBuf> {
        let fd = v4l2::expbuf(self.fd.as_fd(), index).map_err(self.os("exporting a buffer"))?;
        DmaBuf::from_fd(fd, &format!("buffer {index} of {}", self.path))
    }

    /// Gives buffer `index` to the driver to fill.
    pub fn queue(&self, index: u32) -> Result<()> {
        v4l2::qbuf_mmap(self.fd.as_fd(), index).map_err(self.os("queueing a buffer"))
    }

    /// Starts streaming.
    pub fn start(&mut self) -> Result<()> {
        v4l2::streamon(self.fd.as_fd()).map_err(self.os("starting the stream"))?;
        self.streaming = true;
        Ok(())
    }

    /// Waits up to `timeout` for the next filled buffer.
    pub fn dequeue(&self, timeout: Duration) -> Result<Captured> {
        let got = poll_one(self.fd.as_fd(), PollFlags::IN, Some(timeout))
            .map_err(self.os("waiting for a frame"))?;
        if got.is_empty() {
            return Err(Error::Timeout {
                what: format!("waiting for a frame from {}", self.path),
                secs: timeout.as_secs(),
            });
        }
        let b = v4l2::dqbuf(self.fd.as_fd(), Memory::Mmap).map_err(self.os("taking a frame"))?;
        Ok(Captured {
            index: b.index,
            bytes: b.bytesused,
            sequence: b.sequence,
        })
    }

    /// Stops streaming (every queued buffer comes back to us).
    pub fn stop(&mut self) -> Result<()> {
        if self.streaming {
            self.streaming = false;
            v4l2::streamoff(self.fd.as_fd()).map_err(self.os("stopping the stream"))?;
        }
        Ok(())
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The vivid webcam size closest to `bytes` per frame in 32-bit pixels:
/// the webcam input only offers fixed sizes.
pub fn webcam_size_for(bytes: u64) -> (u32, u32) {
    const SIZES: [(u32, u32); 6] = [
        (320, 180),
        (640, 360),
        (640, 480),
        (1280, 720),
        (1920, 1080),
        (3840, 2160),
    ];
    let mut best = SIZES[0];
    for s in SIZES {
        let b = s.0 as u64 * s.1 as u64 * 4;
        let cur = best.0 as u64 * best.1 as u64 * 4;
        if b.abs_diff(bytes) < cur.abs_diff(bytes) {
            best = s;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_bytes() {
        assert_eq!(webcam_size_for(1 << 20), (640, 360));
        assert_eq!(webcam_size_for(8 << 20), (1920, 1080));
        assert_eq!(webcam_size_for(0), (320, 180));
    }
}
