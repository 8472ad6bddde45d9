//! A folder, or a selection of a directory's entries, downloaded as one zip archive that is
//! streamed: each file goes from its RETR straight into the archive in the HTTP response, so
//! memory stays bounded (one buffer, plus a line per entry for the zip's central directory).
//! Entries are stored, not compressed: on a LAN the network is faster than deflate, and
//! the archive's size is the files' sizes.

use std::io::Write;

use tiny_http::Request;
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::web::Session;
use crate::web::files::{parent_of, read_directory, valid_name};
use crate::web::ftp::Checkout;
use crate::web::html::{content_disposition, percent_encode};
use crate::web::pages;
use crate::web::respond::{Answer, error_page, ftp_error_status, streamed_head, unavailable};

/// SECURITY: the most entries one archive walks (files and directories), and how deep: a
/// huge or looping tree cannot keep a request (and an FTP connection) busy without end.
pub const MAX_ENTRIES: usize = 10_000;
const MAX_DEPTH: usize = 32;
/// Bytes per HTTP chunk. chunked_transfer 1.5 reserves room for 4 hex digits of a chunk's
/// length and panics beyond: at most 0xFFFF.
const CHUNK: usize = 32 * 1024;

/// One entry of the archive: its FTP path, its name inside the archive, and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    path: String,
    name: String,
    is_dir: bool,
    size: u64,
}

/// What to put in an archive: the `names` in `dir` (all of `dir` when there are none).
pub(super) struct Selection {
    pub dir: String,
    pub names: Vec<String>,
}

impl Selection {
    /// The archive's file name: the one entry's name, or the directory's.
    fn file_name(&self) -> String {
        let base = match self.names.as_slice() {
            [one] => one.as_str(),
            _ => self
                .dir
                .rsplit('/')
                .find(|p| !p.is_empty())
                .unwrap_or("files"),
        };
        format!("{base}.zip")
    }
}

/// Streams the archive of `selection`; a failure before the first byte gives the request
/// back with the answer to send (afterwards the download can only be cut short).
pub(super) fn download(
    request: Request,
    s: &Session,
    selection: &Selection,
    set_cookie: Option<&str>,
) -> Result<(), Box<(Request, Answer)>> {
    let back = format!("/browse?path={}", percent_encode(&selection.dir));
    if let Some(bad) = selection.names.iter().find(|n| valid_name(n).is_none()) {
        let message = format!("{bad:?} is not a name in this directory.");
        return Err(Box::new((request, error_page(400, message, &back))));
    }
    let mut ftp = match Checkout::take(s) {
        Ok(ftp) => ftp,
        Err(e) => return Err(Box::new((request, unavailable(e)))),
    };
    let items = match collect(&mut ftp, selection) {
        Ok(items) => items,
        Err(answer) => return Err(Box::new((request, answer.with_back(&back)))),
    };
    let mut writer = request.into_writer();
    let head = archive_head(&selection.file_name(), set_cookie);
    if writer.write_all(head.as_bytes()).is_err() {
        return Ok(());
    }
    let mut body = Severable::new(&mut writer);
    let result = {
        // The length is known only at the end: chunked transfer coding marks the end.
        let mut chunked = chunked_transfer::Encoder::with_chunks_size(&mut body, CHUNK);
        let result = write_archive(&mut ftp, &items, &mut chunked);
        if result.is_err() {
            // No final chunk after a failure: the browser reports a failed download rather
            // than saving a cut archive as if it were whole.
            chunked.get_mut().sever();
        }
        result
    };
    if let Err(e) = result {
        log::info!("web zip of {} cut short: {e}", selection.dir);
    }
    let _ = writer.flush();
    Ok(())
}

/// A writer that can be cut off: once severed, every write fails and nothing more reaches
/// the inner writer.
struct Severable<W: Write> {
    inner: W,
    severed: bool,
}

impl<W: Write> Severable<W> {
    fn new(inner: W) -> Severable<W> {
        Severable {
            inner,
            severed: false,
        }
    }

    fn sever(&mut self) {
        self.severed = true;
    }
}

impl<W: Write> Write for Severable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.severed {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.severed {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        self.inner.flush()
    }
}

/// Why collecting failed, before anything was sent.
struct Refused {
    status: u16,
    message: String,
}

impl Refused {
    fn with_back(self, back: &str) -> Answer {
        error_page(self.status, self.message, back)
    }
}

/// The archive's entries, parents before children (a bounded walk of the tree).
fn collect(ftp: &mut Checkout, selection: &Selection) -> Result<Vec<Item>, Refused> {
    let (rows, _) = read_directory(ftp, &selection.dir).map_err(|e| Refused {
        status: ftp_error_status(&e),
        message: format!("Cannot list {}: {e}", selection.dir),
    })?;
    let mut items = Vec::new();
    let mut pending: Vec<(Item, usize)> = Vec::new();
    // SECURITY: a name the server lists must be a plain name to enter the archive: one
    // with a `/` or a `..` would write outside the folder where the archive is unpacked.
    for r in rows
        .into_iter()
        .filter(|r| valid_name(&r.name) == Some(r.name.as_str()))
    {
        if selection.names.is_empty() || selection.names.contains(&r.name) {
            let item = Item {
                path: pages::join(&selection.dir, &r.name),
                name: r.name.clone(),
                is_dir: r.is_dir,
                size: r.size,
            };
            pending.push((item, 0));
        }
    }
    if let Some(missing) = selection
        .names
        .iter()
        .find(|n| !pending.iter().any(|(i, _)| &i.name == *n))
    {
        return Err(Refused {
            status: 404,
            message: format!(
                "Cannot zip {}: no such entry.",
                pages::join(&selection.dir, missing)
            ),
        });
    }
    pending.reverse();
    while let Some((item, depth)) = pending.pop() {
        if items.len() >= MAX_ENTRIES {
            return Err(too_many());
        }
        if item.is_dir && depth < MAX_DEPTH {
            let (rows, _) = read_directory(ftp, &item.path).map_err(|e| Refused {
                status: ftp_error_status(&e),
                message: format!("Cannot list {}: {e}", item.path),
            })?;
            if rows.len() > MAX_ENTRIES {
                return Err(too_many());
            }
            let plain = rows
                .into_iter()
                .filter(|r| valid_name(&r.name) == Some(r.name.as_str()));
            for r in plain.rev() {
                let child = Item {
                    path: pages::join(&item.path, &r.name),
                    name: format!("{}/{}", item.name, r.name),
                    is_dir: r.is_dir,
                    size: r.size,
                };
                pending.push((child, depth + 1));
            }
        }
        items.push(item);
    }
    Ok(items)
}

fn too_many() -> Refused {
    Refused {
        status: 413,
        message: format!("That is more than {MAX_ENTRIES} entries for one archive."),
    }
}

/// Writes the archive: a directory entry per directory, each file streamed from its RETR.
fn write_archive(
    ftp: &mut Checkout,
    items: &[Item],
    out: &mut dyn Write,
) -> zip::result::ZipResult<()> {
    let mut zip = ZipWriter::new_stream(out);
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for item in items {
        if item.is_dir {
            zip.add_directory(format!("{}/", item.name), stored)?;
            continue;
        }
        zip.start_file(
            &item.name,
            stored.large_file(item.size >= u64::from(u32::MAX)),
        )?;
        ftp.transfer(|c| c.get(&item.path, 0, &mut zip))
            .map_err(|e| std::io::Error::other(format!("{}: {e}", item.path)))?;
    }
    zip.finish()?;
    Ok(())
}

/// The response head of an archive, whose body is sent in chunks.
fn archive_head(name: &str, set_cookie: Option<&str>) -> String {
    let disposition = content_disposition(name);
    let fields = [
        ("Content-Type", "application/zip"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Disposition", disposition.as_str()),
    ];
    streamed_head(&fields, set_cookie)
}

/// `/zip?path=P`: the folder `P` itself (its entries under its own name).
pub(super) fn folder(path: &str) -> Selection {
    let name = path.rsplit('/').find(|p| !p.is_empty()).unwrap_or_default();
    Selection {
        dir: parent_of(path),
        names: if name.is_empty() {
            Vec::new()
        } else {
            vec![name.to_owned()]
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names() {
        let one = Selection {
            dir: "/alice".into(),
            names: vec!["photos".into()],
        };
        assert_eq!(one.file_name(), "photos.zip");
        let some = Selection {
            dir: "/alice/trip".into(),
            names: vec!["a".into(), "b".into()],
        };
        assert_eq!(some.file_name(), "trip.zip");
        let root = Selection {
            dir: "/".into(),
            names: Vec::new(),
        };
        assert_eq!(root.file_name(), "files.zip");
        let f = folder("/alice/photos");
        assert_eq!(
            (f.dir.as_str(), f.names.as_slice()),
            ("/alice", &["photos".to_owned()][..])
        );
        assert!(folder("/").names.is_empty());
    }
}
