//! Plain binary uploads without a userspace copy: splice(2) moves the socket's bytes into a
//! pipe (page references, no copy) and from the pipe into the file.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Which end of a splice failed.
#[derive(Debug)]
pub enum SpliceError {
    Socket(io::Error),
    File(io::Error),
}

/// The pipe between the socket and the file, sized to hold one `capacity` gulp.
pub struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl SplicePipe {
    /// A pipe that holds up to `capacity` bytes (less when the system's pipe limit is lower).
    pub fn new(capacity: usize) -> io::Result<SplicePipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two c_int for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let wanted = libc::c_int::try_from(capacity).unwrap_or(libc::c_int::MAX);
        // SAFETY: F_SETPIPE_SZ / F_GETPIPE_SZ on an open pipe fd take and return an int.
        // A refused size (above /proc/sys/fs/pipe-max-size) keeps the default.
        let size = unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, wanted);
            libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        let capacity = usize::try_from(size).map_err(|_| io::Error::last_os_error())?;
        Ok(SplicePipe {
            read,
            write,
            capacity,
        })
    }

    /// Moves what the socket has (up to the pipe's capacity) to the file at its current
    /// position: the number of bytes, 0 at the end of the stream. Call it when the socket is
    /// readable; the file must not be in append mode (splice refuses those).
    pub fn socket_to_file(
        &self,
        socket: BorrowedFd<'_>,
        file: BorrowedFd<'_>,
    ) -> Result<usize, SpliceError> {
        let n =
            splice(socket, self.write.as_fd(), self.capacity, true).map_err(SpliceError::Socket)?;
        let mut left = n;
        // Bounded: each round moves at least one byte out of the pipe or fails.
        while left > 0 {
            match splice(self.read.as_fd(), file, left, false) {
                Ok(0) => return Err(SpliceError::File(io::ErrorKind::WriteZero.into())),
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SpliceError::File(e)),
            }
        }
        Ok(n)
    }
}

fn splice(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    len: usize,
    nonblock: bool,
) -> io::Result<usize> {
    let mut flags = libc::SPLICE_F_MOVE;
    if nonblock {
        flags |= libc::SPLICE_F_NONBLOCK;
    }
    // SAFETY: both fds are open for the call (borrowed); null offsets mean "current position".
    let n = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn moves_a_socket_stream_into_a_file_byte_for_byte() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let sent = body.clone();
        let sender = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&sent).unwrap();
        });
        let (sock, _) = listener.accept().unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"head").unwrap();
        let pipe = SplicePipe::new(1 << 20).unwrap();
        let mut total = 0;
        for _ in 0..100_000 {
            match pipe.socket_to_file(sock.as_fd(), file.as_fd()) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(SpliceError::Socket(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        sender.join().unwrap();
        assert_eq!(total, body.len());
        let mut back = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(&back[..4], b"head");
        assert_eq!(&back[4..], &body[..]);
    }
}
