//! Trust on first use for FTPS servers, as SSH does for host keys: the server certificate's
//! SHA-256 fingerprint (uppercase hex with colons, the form `ferroftp serve` prints) is
//! looked up in `known_hosts` (`host:port FINGERPRINT` lines in the user's config dir). A
//! pinned match is trusted; anything else is refused during the handshake and reported as a
//! [`Verdict`], so the front end decides what to ask (the terminal asks once and pins, a
//! script refuses) and reconnects. No prompt ever runs inside a TLS callback.
//!
//! What this module does not do: chain validation against a CA store. A certificate is
//! trusted because its exact bytes were seen and accepted before, like `ssh` host keys.

use crate::tls::fingerprint;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// The file under the config dir that holds pinned fingerprints.
const KNOWN_HOSTS: &str = "known_hosts";

/// The per-user config directory: `$XDG_CONFIG_HOME/ferroftp`, else `~/.config/ferroftp`.
pub fn config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("ferroftp"))
}

/// Pinned fingerprints, keyed by `host:port`.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    path: Option<PathBuf>,
    pins: BTreeMap<String, String>,
}

impl KnownHosts {
    /// `known_hosts` in [`config_dir`]; empty (and unsaved) when there is no config dir.
    pub fn load_default() -> io::Result<KnownHosts> {
        match config_dir() {
            Some(dir) => KnownHosts::load(&dir.join(KNOWN_HOSTS)),
            None => Ok(KnownHosts::default()),
        }
    }

    /// Reads `path`; a missing file is an empty list. Unreadable lines are skipped (a
    /// skipped line can only make a host unknown, which asks or refuses: never trusts).
    pub fn load(path: &Path) -> io::Result<KnownHosts> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let pins = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let (key, fp) = l.split_once(char::is_whitespace)?;
                Some((key.to_owned(), fp.trim().to_ascii_uppercase()))
            })
            .collect();
        Ok(KnownHosts {
            path: Some(path.to_path_buf()),
            pins,
        })
    }

    /// The file these pins are saved to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn lookup(&self, key: &str) -> Option<&str> {
        self.pins.get(key).map(String::as_str)
    }

    /// Remembers `fingerprint` for `key` in memory and appends it to the file (creating the
    /// config dir). Only called after the user accepted an unknown certificate.
    pub fn pin(&mut self, key: &str, fingerprint: &str) -> io::Result<()> {
        self.pins.insert(key.to_owned(), fingerprint.to_owned());
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{key} {fingerprint}")?;
        f.sync_all()
    }
}

/// How the server certificate is judged.
#[derive(Debug, Clone)]
pub enum TrustPolicy {
    /// Only the pinned fingerprint (if any) is trusted.
    Pinned(Option<String>),
    /// `--insecure`: any certificate (signatures are still checked).
    Insecure,
}

/// What the verifier saw, for the front end to act on after a refused handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No pin for this server: ask the user (or refuse when nobody can be asked).
    Unknown { fingerprint: String },
    /// A pin exists and the server shows another certificate.
    Changed { pinned: String, presented: String },
}

/// A rustls verifier that trusts by fingerprint. Handshake signatures are verified with
/// the provider's algorithms, so a peer must hold the key of the certificate it shows.
#[derive(Debug)]
pub struct PinningVerifier {
    policy: TrustPolicy,
    algorithms: WebPkiSupportedAlgorithms,
    verdict: Mutex<Option<Verdict>>,
}

impl PinningVerifier {
    pub fn new(policy: TrustPolicy) -> Arc<PinningVerifier> {
        Arc::new(PinningVerifier {
            policy,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
            verdict: Mutex::new(None),
        })
    }

    /// Why the last certificate was refused, if it was.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn refuse(&self, verdict: Verdict) -> rustls::Error {
        let message = match &verdict {
            Verdict::Unknown { fingerprint } => format!("unknown certificate {fingerprint}"),
            Verdict::Changed { presented, .. } => format!("certificate changed to {presented}"),
        };
        *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) = Some(verdict);
        rustls::Error::General(message)
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        match &self.policy {
            TrustPolicy::Insecure => Ok(ServerCertVerified::assertion()),
            TrustPolicy::Pinned(Some(pinned)) if *pinned == presented => {
                Ok(ServerCertVerified::assertion())
            }
            // SECURITY: a changed certificate is what a man in the middle looks like; it is
            // refused, never offered for acceptance.
            TrustPolicy::Pinned(Some(pinned)) => Err(self.refuse(Verdict::Changed {
                pinned: pinned.clone(),
                presented,
            })),
            TrustPolicy::Pinned(None) => Err(self.refuse(Verdict::Unknown {
                fingerprint: presented,
            })),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("known_hosts");
        let mut hosts = KnownHosts::load(&path).unwrap();
        assert_eq!(hosts.lookup("h:21"), None);
        hosts.pin("h:21", "AA:BB").unwrap();
        hosts.pin("other:990", "CC:DD").unwrap();
        let again = KnownHosts::load(&path).unwrap();
        assert_eq!(again.lookup("h:21"), Some("AA:BB"));
        assert_eq!(again.lookup("other:990"), Some("CC:DD"));
    }

    #[test]
    fn verifier_judges_by_fingerprint() {
        let cert = CertificateDer::from(vec![1u8, 2, 3]);
        let fp = fingerprint(&cert);
        assert_eq!(fp.len(), 95);
        let name = ServerName::try_from("localhost").unwrap();
        let check = |policy| {
            let v = PinningVerifier::new(policy);
            let ok = v
                .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
                .is_ok();
            (ok, v.verdict())
        };
        assert_eq!(check(TrustPolicy::Insecure), (true, None));
        assert_eq!(check(TrustPolicy::Pinned(Some(fp.clone()))), (true, None));
        assert_eq!(
            check(TrustPolicy::Pinned(None)),
            (
                false,
                Some(Verdict::Unknown {
                    fingerprint: fp.clone()
                })
            )
        );
        assert_eq!(
            check(TrustPolicy::Pinned(Some("AA".into()))),
            (
                false,
                Some(Verdict::Changed {
                    pinned: "AA".into(),
                    presented: fp
                })
            )
        );
    }
}
