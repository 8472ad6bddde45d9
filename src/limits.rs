//! Named limits and timeouts. Each says what the peer sees when it is hit.

use std::time::Duration;

/// Longest control line accepted, CRLF included. Longer lines answer `500` and the session goes on.
pub const MAX_COMMAND_LINE: usize = 4096;

/// Longest single path component (a file name), as on Linux. Longer: `550`.
pub const MAX_NAME_BYTES: usize = 255;

/// Longest path argument. Longer: `550`.
pub const MAX_PATH_BYTES: usize = 4096;

/// How often a blocked control read wakes up to check idle time, shutdown and account changes.
pub const CONTROL_POLL: Duration = Duration::from_secs(1);

/// How long the acceptor waits to write a `421` refusal to a peer that does not read.
pub const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Stack of each worker thread: the session loop keeps no large buffers on the stack, so a
/// small explicit stack keeps 256 idle sessions cheap.
pub const WORKER_STACK_SIZE: usize = 256 * 1024;

/// Buffer for uploads (STOR/APPE) and for ASCII-mode or protected downloads.
pub const TRANSFER_BUFFER: usize = 256 * 1024;

/// A plain binary upload switches from read/write to splice(2) once this much has arrived:
/// below it the pipe's set-up costs more than the copy it saves.
pub const SPLICE_AFTER: u64 = 1024 * 1024;

/// Bytes handed to sendfile per call on plain RETR; between calls the control connection is
/// checked for ABOR and the shutdown deadline.
pub const SENDFILE_CHUNK: u64 = 8 * 1024 * 1024;

/// After an upload passes its quota, up to this much more of it is read and dropped, so a
/// client that does not read the control connection while it sends (curl) hears the `552`
/// rather than a broken pipe; beyond it the data connection is closed.
pub const QUOTA_DRAIN: u64 = 64 * 1024 * 1024;

/// A stalled data peer (no progress for this long) ends the transfer with `426`.
pub const DATA_STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// On Ctrl-C/SIGTERM, running transfers get this long to finish before every session gets `421`.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How many entries one listing will produce at most (LIST/NLST/MLSD); the rest are cut.
pub const MAX_LISTING_ENTRIES: usize = 100_000;

/// Attempts to find a free passive port in `--pasv-ports` before answering `425`.
pub const PASV_BIND_ATTEMPTS: usize = 64;

/// Accounts one IP may create with SIGNUP per hour; more answer `550`.
pub const SIGNUPS_PER_HOUR: u32 = 3;

/// A TLS handshake (control or data) that has not finished by then ends that connection.
pub const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A not-yet-logged-in session is safe from eviction (by a newcomer to a full pool) for this
/// long after it connected: time to log in even while one address churns connections.
pub const EVICTION_MIN_WAIT: Duration = Duration::from_secs(1);

/// How long a trusted proxy has to send the PROXY protocol header of a new connection.
pub const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the acceptor waits for a proxied connection's header to arrive when every seat is
/// taken: only a connection whose real client is known may evict a waiting session.
pub const PROXY_PEEK_WAIT: Duration = Duration::from_millis(100);
