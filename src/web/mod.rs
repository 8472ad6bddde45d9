//! The web client (`ferroftp web`): a browser UI to FTP/FTPS servers.

pub mod allow;
pub mod html;
pub mod multipart;
pub mod sessions;
