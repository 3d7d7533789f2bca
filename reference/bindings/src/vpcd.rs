//! A virtual card for pcscd: [`serve_vpcd`] connects to vsmartcard's `vpcd` driver (inside
//! pcscd) over TCP and answers its frames with an [`ApduDispatcher`] (`spec/apdu.md` §9).
//!
//! Protocol (vpcd, Debian 12 / virtualsmartcard 0.8): the card is the TCP client; every frame
//! either way is a 2-byte big-endian length N and N bytes. A 1-byte frame from vpcd is a
//! control byte (0x00 power off, 0x01 power on, 0x02 reset, 0x04 ATR request, only the last
//! one answered with the ATR); a longer frame is a command APDU, answered by exactly one frame
//! holding the response APDU.
//!
//! Latency: vpcd writes the length and the payload with two `send()` calls and leaves Nagle on,
//! so a card that delays its ACKs stalls every APDU by ~40 ms. This client re-arms
//! `TCP_QUICKACK` before **every** read (Linux resets it by itself) and sends every reply with
//! one write on a `TCP_NODELAY` socket ([APDU-VPC-003]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use airtight_proto::sks::SecureKeyStore;

use crate::apdu::{self, StatusWord};
use crate::dispatcher::ApduDispatcher;

/// The default ATR: `3B 80 80 01 01` (T=0 and T=1 offered, no historical bytes).
pub const DEFAULT_ATR: &[u8] = &[0x3B, 0x80, 0x80, 0x01, 0x01];
/// vpcd's port of reader `Virtual PCD 00 00` (slot n listens on 35963 + n).
pub const VPCD_PORT: u16 = 35963;

/// Options of [`serve_vpcd`].
#[derive(Debug, Clone)]
pub struct VpcdOptions {
    /// The ATR to answer with (must not be empty: an empty ATR means "no card" to vpcd).
    pub atr: Vec<u8>,
    /// Connect again after the connection drops (pcscd restarted); otherwise return.
    pub reconnect: bool,
    /// Pause between connection attempts.
    pub retry_interval: Duration,
    /// Give up when no connection succeeded for this long (`None`: keep trying).
    pub connect_deadline: Option<Duration>,
    /// How often a blocked read checks [`VpcdOptions::stop`].
    pub poll_interval: Duration,
    /// Bound on one reply write.
    pub write_timeout: Duration,
    /// Set to make [`serve_vpcd`] close the connection ("remove the card") and return.
    pub stop: Arc<AtomicBool>,
    /// Test hook: when this many APDUs have been answered, close the connection on the next
    /// APDU without answering it (the card is pulled while the reader waits) and return.
    pub drop_after_apdus: Option<u64>,
}

impl Default for VpcdOptions {
    fn default() -> Self {
        Self {
            atr: DEFAULT_ATR.to_vec(),
            reconnect: true,
            retry_interval: Duration::from_millis(100),
            connect_deadline: None,
            poll_interval: Duration::from_millis(100),
            write_timeout: Duration::from_secs(5),
            stop: Arc::new(AtomicBool::new(false)),
            drop_after_apdus: None,
        }
    }
}

/// What [`serve_vpcd`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VpcdStats {
    /// TCP connections made.
    pub connections: u64,
    /// APDUs answered.
    pub apdus: u64,
    /// Control frames received.
    pub controls: u64,
}

/// Serves `dispatcher` as a card in the vpcd reader at `addr` until [`VpcdOptions::stop`] is
/// set, the connection drops without [`VpcdOptions::reconnect`], or the connect deadline
/// passes (an error). Power off, reset and the end of a connection are a power loss for the
/// card ([`ApduDispatcher::power_loss`]); power on resets the APDU session ([APDU-VPC-002]).
pub fn serve_vpcd<S: SecureKeyStore>(
    addr: SocketAddr,
    dispatcher: &mut ApduDispatcher<S>,
    options: &VpcdOptions,
) -> io::Result<VpcdStats> {
    if options.atr.is_empty() || options.atr.len() > 33 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ATR must be 1 to 33 bytes",
        ));
    }
    let mut stats = VpcdStats::default();
    let mut last_ok = Instant::now();
    while !options.stop.load(Ordering::SeqCst) {
        let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => s,
            Err(e) => {
                if options
                    .connect_deadline
                    .is_some_and(|d| last_ok.elapsed() > d)
                {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot connect to vpcd at {addr}: {e}"),
                    ));
                }
                thread::sleep(options.retry_interval);
                continue;
            }
        };
        stats.connections += 1;
        dispatcher.reset();
        let result = serve_connection(stream, dispatcher, options, &mut stats);
        // The reader lost the card: a power loss for the card ([APDU-VPC-002]).
        dispatcher.power_loss();
        last_ok = Instant::now();
        if options.drop_after_apdus.is_some_and(|n| stats.apdus >= n) {
            break;
        }
        match result {
            Ok(()) | Err(_) if options.stop.load(Ordering::SeqCst) => break,
            // A dropped connection (pcscd went away): try again, or return.
            _ if options.reconnect => thread::sleep(options.retry_interval),
            Ok(()) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(stats)
}

fn serve_connection<S: SecureKeyStore>(
    mut s: TcpStream,
    dispatcher: &mut ApduDispatcher<S>,
    options: &VpcdOptions,
    stats: &mut VpcdStats,
) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(options.poll_interval))?;
    s.set_write_timeout(Some(options.write_timeout))?;
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 2];
        if !read_full(&mut s, &mut len, &options.stop)? {
            return Ok(());
        }
        frame.resize(u16::from_be_bytes(len) as usize, 0);
        if !read_full(&mut s, &mut frame, &options.stop)? {
            return Ok(());
        }
        match frame.as_slice() {
            [] => {}
            [control] => {
                stats.controls += 1;
                match control {
                    0x00 | 0x02 => dispatcher.power_loss(),
                    0x01 => dispatcher.reset(),
                    0x04 => write_frame(&mut s, &options.atr)?,
                    _ => {}
                }
            }
            _ if options.drop_after_apdus.is_some_and(|n| stats.apdus >= n) => {
                // The card is pulled while the reader waits for this APDU's answer.
                return Ok(());
            }
            apdu_bytes => {
                stats.apdus += 1;
                let mut r = dispatcher.process(apdu_bytes);
                if r.len() > u16::MAX as usize {
                    // Cannot happen with max_response_data <= 65533; never send a bad frame.
                    r = apdu::response(&[], StatusWord::UNKNOWN);
                }
                write_frame(&mut s, &r)?;
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn quickack(s: &TcpStream) {
    use std::os::linux::net::TcpStreamExt;
    let _ = s.set_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quickack(_: &TcpStream) {}

/// Fills `buf`; `Ok(false)` on a clean EOF before the first byte or when stopped.
fn read_full(s: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        // [APDU-VPC-003] re-arm before every read: Linux clears quickack on its own.
        quickack(s);
        match s.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "vpcd closed the connection mid-frame",
                ));
            }
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// One write per frame: length and payload together ([APDU-VPC-001]).
fn write_frame(s: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 65535 bytes"))?;
    let mut f = Vec::with_capacity(payload.len() + 2);
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(payload);
    s.write_all(&f)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::calls::ScriptedSks;
    use std::net::TcpListener;

    fn frame(s: &mut TcpStream, p: &[u8]) {
        let mut f = (p.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(p);
        s.write_all(&f).unwrap();
    }

    fn read(s: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut b = vec![0; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut b).unwrap();
        b
    }

    /// A fake vpcd: the card connects, gets control frames and APDUs, reconnects after a drop.
    #[test]
    fn speaks_the_vpcd_protocol() {
        // [APDU-VPC-001] [APDU-VPC-002]
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let options = VpcdOptions {
            retry_interval: Duration::from_millis(10),
            poll_interval: Duration::from_millis(20),
            ..VpcdOptions::default()
        };
        let stop = options.stop.clone();
        let card = thread::spawn(move || {
            let mut d = ApduDispatcher::new(ScriptedSks::default());
            serve_vpcd(addr, &mut d, &options).unwrap()
        });
        let (mut s, _) = listener.accept().unwrap();
        frame(&mut s, &[0x04]);
        assert_eq!(read(&mut s), DEFAULT_ATR);
        frame(&mut s, &[0x01]);
        frame(&mut s, &apdu::select_command());
        let r = read(&mut s);
        assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
        // Power off deselects.
        frame(&mut s, &[0x00]);
        frame(&mut s, &[0x80, 0x02, 0x01, 0x00, 0x00]);
        assert_eq!(read(&mut s), vec![0x69, 0x85]);
        // A dropped connection: the card comes back.
        drop(s);
        let (mut s, _) = listener.accept().unwrap();
        frame(&mut s, &[0x04]);
        assert_eq!(read(&mut s), DEFAULT_ATR);
        stop.store(true, Ordering::SeqCst);
        let stats = card.join().unwrap();
        assert_eq!(stats.connections, 2);
        assert_eq!(stats.apdus, 2);
    }

    /// The removal test hook: after N answered APDUs the next one is not answered, the
    /// connection closes and the card does not come back.
    #[test]
    fn drop_after_apdus_pulls_the_card() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let options = VpcdOptions {
            retry_interval: Duration::from_millis(10),
            poll_interval: Duration::from_millis(20),
            drop_after_apdus: Some(1),
            ..VpcdOptions::default()
        };
        let card = thread::spawn(move || {
            let mut d = ApduDispatcher::new(ScriptedSks::default());
            serve_vpcd(addr, &mut d, &options).unwrap()
        });
        let (mut s, _) = listener.accept().unwrap();
        frame(&mut s, &apdu::select_command());
        let r = read(&mut s);
        assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
        frame(&mut s, &apdu::select_command());
        let mut b = [0u8; 2];
        assert_eq!(
            s.read(&mut b).unwrap(),
            0,
            "no answer, the socket is closed"
        );
        let stats = card.join().unwrap();
        assert_eq!((stats.connections, stats.apdus), (1, 1));
    }

    #[test]
    fn connect_deadline_is_bounded() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut d = ApduDispatcher::new(ScriptedSks::default());
        let t = Instant::now();
        let r = serve_vpcd(
            addr,
            &mut d,
            &VpcdOptions {
                connect_deadline: Some(Duration::from_millis(200)),
                retry_interval: Duration::from_millis(20),
                ..VpcdOptions::default()
            },
        );
        assert!(r.is_err());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
