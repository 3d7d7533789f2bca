//! A shim process (`spec/shim.md`) over the stateless `SampleSks`, for binding tests and as a
//! minimal example of a shim. Fault injection for tests, by environment variable:
//! `SAMPLE_SHIM_DIE_AT=n` exits with status 3 on the n-th SKS request without answering;
//! `SAMPLE_SHIM_GARBAGE_AT=n` answers the n-th SKS request with a line that is not JSON;
//! `SAMPLE_SHIM_HANG_AT=n` stops answering at the n-th SKS request.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Write};

use airtight_bindings::calls::SampleSks;
use airtight_bindings::shim::{ShimServerOptions, serve_shim};

fn at(var: &str) -> Option<u64> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

/// Passes lines through to the server and applies the fault injection on the way.
struct Faulty<R> {
    inner: R,
    seen: u64,
    die: Option<u64>,
    garbage: Option<u64>,
    hang: Option<u64>,
    pending: Vec<u8>,
    pos: usize,
}

impl<R: BufRead> io::Read for Faulty<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Faulty<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.pending.len() {
            self.pending.clear();
            self.pos = 0;
            if self.inner.read_until(b'\n', &mut self.pending)? == 0 {
                return Ok(&[]);
            }
            let is_sks = !self.pending.windows(7).any(|w| w == b"\"hello\"")
                && !self.pending.windows(10).any(|w| w == b"\"shutdown\"");
            if is_sks {
                self.seen += 1;
                if self.die == Some(self.seen) {
                    std::process::exit(3);
                }
                if self.hang == Some(self.seen) {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(3600));
                    }
                }
                if self.garbage == Some(self.seen) {
                    let mut out = io::stdout().lock();
                    let _ = out.write_all(b"this is not json\n");
                    let _ = out.flush();
                    self.pending.clear();
                }
            }
        }
        Ok(&self.pending[self.pos..])
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt;
    }
}

fn main() {
    let input = Faulty {
        inner: BufReader::new(io::stdin().lock()),
        seen: 0,
        die: at("SAMPLE_SHIM_DIE_AT"),
        garbage: at("SAMPLE_SHIM_GARBAGE_AT"),
        hang: at("SAMPLE_SHIM_HANG_AT"),
        pending: Vec::new(),
        pos: 0,
    };
    let options = ShimServerOptions {
        implementation: "airtight-sample-shim".into(),
        ..ShimServerOptions::default()
    };
    let mut sks = SampleSks;
    if let Err(e) = serve_shim(input, io::stdout().lock(), &mut sks, &options) {
        eprintln!("airtight-sample-shim: {e}");
        std::process::exit(1);
    }
}
