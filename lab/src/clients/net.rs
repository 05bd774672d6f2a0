//! Client connections to the VIP, from a chosen loopback source address (Linux accepts any
//! 127/8 source on `lo`). Plain TCP binds before connecting, which std cannot do, hence a few
//! lines of libc FFI. TLS goes through an `openssl s_client` child per connection (the lab is
//! std-only): its stdin/stdout carry the plaintext, `-bind` sets the source, and
//! `-sess_in`/`-sess_out` resume a TLS session across connections.

use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::exchange::HOST;

/// A silent peer fails a read after this (TCP only: pipes have no timeout, the run's
/// watchdog bounds those).
const READ_TIMEOUT: Duration = Duration::from_secs(12);

mod sys {
    use std::os::raw::c_int;

    pub const AF_INET: u16 = 2;
    pub const SOCK_STREAM: c_int = 1;
    pub const SOCK_CLOEXEC: c_int = 0o2_000_000;

    /// `struct sockaddr_in` (Linux): port and address in network byte order.
    #[repr(C)]
    pub struct SockaddrIn {
        pub family: u16,
        pub port: [u8; 2],
        pub address: [u8; 4],
        pub zero: [u8; 8],
    }

    extern "C" {
        pub fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int;
        pub fn bind(fd: c_int, address: *const SockaddrIn, length: u32) -> c_int;
        pub fn connect(fd: c_int, address: *const SockaddrIn, length: u32) -> c_int;
    }
}

fn sockaddr(address: Ipv4Addr, port: u16) -> sys::SockaddrIn {
    sys::SockaddrIn {
        family: sys::AF_INET,
        port: port.to_be_bytes(),
        address: address.octets(),
        zero: [0; 8],
    }
}

/// A TCP connection from `from` (any free port) to `to`.
pub fn connect_from(from: Ipv4Addr, to: SocketAddrV4) -> io::Result<TcpStream> {
    const LENGTH: u32 = std::mem::size_of::<sys::SockaddrIn>() as u32;
    // SAFETY: socket() has no memory arguments; a negative result is checked before use.
    let raw = unsafe {
        sys::socket(
            i32::from(sys::AF_INET),
            sys::SOCK_STREAM | sys::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let local = sockaddr(from, 0);
    // SAFETY: `local` is a valid sockaddr_in that outlives the call; LENGTH is its size.
    if unsafe { sys::bind(fd.as_raw_fd(), &local, LENGTH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let remote = sockaddr(*to.ip(), to.port());
    loop {
        // SAFETY: as for bind.
        if unsafe { sys::connect(fd.as_raw_fd(), &remote, LENGTH) } == 0 {
            return Ok(TcpStream::from(fd));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// How connections reach the VIP.
#[derive(Clone, Debug)]
pub enum Transport {
    Plain,
    /// TLS via `openssl s_client`; `tls12_only` makes session-ID resumption visible.
    Tls {
        tls12_only: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Dialer {
    pub vip: SocketAddrV4,
    pub transport: Transport,
}

impl Dialer {
    /// Opens a connection from `from`. With TLS, `session` names a file to resume from (when
    /// it exists) and to save the session to.
    pub fn dial(&self, from: Ipv4Addr, session: Option<&Path>) -> io::Result<Conn> {
        match self.transport {
            Transport::Plain => {
                let stream = connect_from(from, self.vip)?;
                stream.set_read_timeout(Some(READ_TIMEOUT))?;
                stream.set_nodelay(true)?;
                let reader: Box<dyn Read + Send> = Box::new(stream.try_clone()?);
                Ok(Conn {
                    reader: BufReader::new(reader),
                    writer: Box::new(stream),
                    child: None,
                })
            }
            Transport::Tls { tls12_only } => self.spawn_s_client(from, session, tls12_only),
        }
    }

    fn spawn_s_client(
        &self,
        from: Ipv4Addr,
        session: Option<&Path>,
        tls12_only: bool,
    ) -> io::Result<Conn> {
        let mut command = Command::new("openssl");
        command.args([
            "s_client",
            "-quiet",
            "-no_ign_eof",
            "-nocommands",
            "-servername",
            HOST,
        ]);
        command
            .arg("-connect")
            .arg(self.vip.to_string())
            .arg("-bind")
            .arg(format!("{from}:0"));
        if tls12_only {
            command.arg("-tls1_2");
        }
        if let Some(session) = session {
            if fs::metadata(session).is_ok_and(|meta| meta.len() > 0) {
                command.arg("-sess_in").arg(session);
            }
            command.arg("-sess_out").arg(session);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(io::Error::other("s_client without pipes"));
        };
        let reader: Box<dyn Read + Send> = Box::new(stdout);
        Ok(Conn {
            reader: BufReader::new(reader),
            writer: Box::new(stdin),
            child: Some(child),
        })
    }
}

/// One client connection: plaintext in and out, whatever carries it.
pub struct Conn {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: Box<dyn Write + Send>,
    child: Option<Child>,
}

impl Conn {
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    pub fn reader(&mut self) -> &mut BufReader<Box<dyn Read + Send>> {
        &mut self.reader
    }
}

impl Drop for Conn {
    /// Closes the connection; an `s_client` gets end-of-input (it then sends close_notify and
    /// exits) and is killed if it lingers.
    fn drop(&mut self) {
        self.writer = Box::new(io::sink());
        if let Some(child) = self.child.as_mut() {
            let patience = Instant::now() + Duration::from_millis(500);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < patience {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn connects_from_the_chosen_loopback_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let std::net::SocketAddr::V4(vip) = listener.local_addr().unwrap() else {
            unreachable!()
        };
        let source = Ipv4Addr::new(127, 0, 9, 7);
        let client = connect_from(source, vip).unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), source);
        assert_eq!(client.local_addr().unwrap().ip(), source);
    }

    #[test]
    fn reports_refused_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let std::net::SocketAddr::V4(vip) = listener.local_addr().unwrap() else {
            unreachable!()
        };
        drop(listener);
        assert_eq!(
            connect_from(Ipv4Addr::LOCALHOST, vip).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    #[test]
    fn plain_conn_carries_bytes_both_ways() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let std::net::SocketAddr::V4(vip) = listener.local_addr().unwrap() else {
            unreachable!()
        };
        let dialer = Dialer {
            vip,
            transport: Transport::Plain,
        };
        let mut conn = dialer.dial(Ipv4Addr::new(127, 0, 9, 8), None).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        conn.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).unwrap();
        server.write_all(b"pong").unwrap();
        conn.reader().read_exact(&mut got).unwrap();
        assert_eq!(&got, b"pong");
    }
}
