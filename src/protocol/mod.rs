//! The FTP wire format only: commands, replies, address encodings, listing lines and ASCII
//! conversion. No I/O, no disk, no session.

pub mod address;
pub mod ascii;
pub mod command;
pub mod listing;
pub mod reply;

pub use command::{Command, ParseError, SiteCommand, TransferType};
pub use reply::{Reply, codes};
