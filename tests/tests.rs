//! The one integration-test crate: every test drives a real ferroftp over real sockets.

mod cli;
mod clients;
mod support;
mod term_client;

mod ftps;
mod jail;
mod login;
mod protocol;
mod transfer;

mod access;
mod hostile;
mod ops;
mod packaging;
mod proxy;
mod quotas;
mod readme;
mod scaleout;

mod web;
