//! TLS for the store's connections, set the way libpq sets it: by
//! `sslmode` and `sslrootcert` in the URL.
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable`, `prefer` (the default) | no | — |
//! | `require` | yes | not verified, unless `sslrootcert` is given (then as `verify-ca`, or as `verify-full` for `sslrootcert=system`) |
//! | `verify-ca` | yes | signed by a trusted authority |
//! | `verify-full` | yes | signed by a trusted authority, and issued for the host connected to |
//!
//! The trusted authorities are those in the file `sslrootcert` names, or the
//! platform's (`sslrootcert=system`, or no `sslrootcert`), and in either case
//! those given to [`PostgresOptions::tls_root_certificates`](super::PostgresOptions::tls_root_certificates).
//!
//! `sslcrl` names a PEM file of certificate revocation lists, and
//! `sslcrldir` a directory of such files: with either, as with libpq, the
//! server's certificate and every authority between it and the trusted one
//! must be covered by a list of its issuer and not revoked.
//!
//! `sslcert` and `sslkey` name the PEM files of a client certificate (its
//! chain) and its private key, for servers that authenticate clients by
//! certificate; `sslpassword` decrypts a key stored encrypted (PKCS#8,
//! `BEGIN ENCRYPTED PRIVATE KEY`, as `openssl pkcs8 -topk8 -v2 aes-256-cbc`
//! writes it). `sslsni=0` leaves the host name out of the handshake (it is
//! sent by default, as libpq does). Other libpq TLS settings
//! (`ssl_min_protocol_version`, …) are refused by name, and so are the file settings under `disable` or `prefer`, where
//! they would be ignored, and the revocation lists where no certificate is
//! verified.
//!
//! Unlike libpq, `prefer` does not try TLS: the store either encrypts as
//! told or not at all, and never depends on what the server offers.
//! tokio-postgres knows only `disable`, `prefer` and `require`, so
//! [`split_url`] takes `verify-ca`, `verify-full` and `sslrootcert` out of
//! the URL before it is parsed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verify {
    /// Nothing: the connection is encrypted, the server not authenticated
    /// (`sslmode=require` without `sslrootcert`).
    Nothing,
    /// That a trusted authority signed it (`verify-ca`).
    Authority,
    /// That a trusted authority signed it for the host connected to
    /// (`verify-full`).
    Full,
}

/// Where the trusted authorities come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RootCertificates {
    /// The platform's (`sslrootcert=system`, or no `sslrootcert`).
    System,
    /// A PEM file (`sslrootcert=PATH`).
    File(PathBuf),
}

/// The TLS settings a URL gives beyond what tokio-postgres parses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct UrlTls {
    /// `verify-ca` or `verify-full`, if the URL said so.
    verify: Option<Verify>,
    /// `sslrootcert`, if given.
    roots: Option<RootCertificates>,
    /// Whether to send the host name in the handshake (`sslsni`, default 1).
    sni: bool,
    /// The client's certificate chain (`sslcert`), for servers that
    /// authenticate clients by certificate.
    client_certificate: Option<PathBuf>,
    /// Its private key (`sslkey`).
    client_key: Option<PathBuf>,
    /// The password of that key, if it is encrypted (`sslpassword`).
    key_password: Option<Password>,
    /// A PEM file of certificate revocation lists (`sslcrl`).
    crl_file: Option<PathBuf>,
    /// A directory of such files (`sslcrldir`).
    crl_dir: Option<PathBuf>,
}

impl UrlTls {
    /// Whether the URL gives a setting that only TLS uses.
    fn uses_tls(&self) -> bool {
        self.roots.is_some()
            || self.client_certificate.is_some()
            || self.client_key.is_some()
            || self.key_password.is_some()
            || self.crl_file.is_some()
            || self.crl_dir.is_some()
    }
}

/// The password of an encrypted client key; never shown.
#[derive(Clone, PartialEq, Eq)]
struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Takes the settings tokio-postgres does not know out of `url`: returns
/// the URL with `sslmode=verify-ca` and `verify-full` written as
/// `sslmode=require` and `sslrootcert`, `sslcert`, `sslkey`, `sslpassword`,
/// `sslcrl`, `sslcrldir` and `sslsni` removed, and those settings.
///
/// Connection strings in the `key=value` form pass through unchanged; they
/// cannot use these settings (an error says so).
pub(super) fn split_url(url: &str) -> Result<(String, UrlTls), String> {
    let mut tls = UrlTls {
        verify: None,
        roots: None,
        sni: true,
        client_certificate: None,
        client_key: None,
        key_password: None,
        crl_file: None,
        crl_dir: None,
    };
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !is_url {
        check_conninfo(url)?;
        return Ok((url.to_owned(), tls));
    }
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), tls));
    };
    let mut kept = Vec::new();
    for param in query.split('&') {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key {
            "sslmode" => match value {
                "verify-ca" => {
                    tls.verify = Some(Verify::Authority);
                    kept.push("sslmode=require");
                }
                "verify-full" => {
                    tls.verify = Some(Verify::Full);
                    kept.push("sslmode=require");
                }
                "allow" => {
                    return Err("sslmode=allow is not supported; use disable, prefer, \
                                require, verify-ca or verify-full"
                        .to_owned());
                }
                _ => kept.push(param),
            },
            "sslrootcert" => {
                let path = percent_decode(value)
                    .ok_or_else(|| format!("sslrootcert={value}: invalid percent-encoding"))?;
                tls.roots = Some(if path == "system" {
                    RootCertificates::System
                } else if path.is_empty() {
                    return Err("sslrootcert is empty: give the path of a PEM file of \
                                certificate authorities, or system"
                        .to_owned());
                } else {
                    RootCertificates::File(PathBuf::from(path))
                });
            }
            "sslcert" | "sslkey" | "sslcrl" | "sslcrldir" => {
                let path = percent_decode(value)
                    .filter(|path| !path.is_empty())
                    .ok_or_else(|| {
                        let what = if key == "sslcrldir" {
                            "a directory of PEM files"
                        } else {
                            "a PEM file"
                        };
                        format!("{key}={value}: give the path of {what}")
                    })?;
                let slot = match key {
                    "sslcert" => &mut tls.client_certificate,
                    "sslkey" => &mut tls.client_key,
                    "sslcrl" => &mut tls.crl_file,
                    _ => &mut tls.crl_dir,
                };
                *slot = Some(PathBuf::from(path));
            }
            "sslpassword" => {
                let password = percent_decode(value)
                    .ok_or_else(|| "sslpassword: invalid percent-encoding".to_owned())?;
                tls.key_password = Some(Password(password));
            }
            "sslsni" => match value {
                "1" => tls.sni = true,
                "0" => tls.sni = false,
                _ => return Err(format!("sslsni={value}: use 1 or 0")),
            },
            "ssl_min_protocol_version" | "ssl_max_protocol_version" => {
                return Err(format!(
                    "{key} is not supported: the store's TLS takes sslmode, sslrootcert, \
                     sslcert, sslkey, sslpassword, sslcrl, sslcrldir and sslsni"
                ));
            }
            _ => kept.push(param),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, tls))
}

/// Refuses the settings of [`split_url`] in a `key=value` connection
/// string, which tokio-postgres would otherwise parse or reject unexplained.
fn check_conninfo(conninfo: &str) -> Result<(), String> {
    let ours = |word: &str| {
        word.starts_with("sslrootcert")
            || word.starts_with("sslmode=verify")
            || word.starts_with("sslcrl")
            || word.starts_with("sslpassword")
    };
    if conninfo.split_whitespace().any(ours) {
        return Err(
            "sslrootcert, sslpassword, sslcrl, sslcrldir and sslmode=verify-ca/verify-full \
             are read from URLs only; write the connection string as \
             postgres://user@host:port/database?sslmode=…"
                .to_owned(),
        );
    }
    Ok(())
}

/// Decodes `%XX` escapes; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// How the store's connections are made.
#[derive(Clone)]
pub(super) enum Tls {
    /// In the clear (`sslmode` `disable` or `prefer`).
    Off,
    /// Over TLS.
    On(MakeRustlsConnect),
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tls::Off => "Tls::Off",
            Tls::On(_) => "Tls::On",
        })
    }
}

impl Tls {
    /// The connector for `mode` (as tokio-postgres parsed it) and the URL's
    /// other settings, trusting `extra_roots` (PEM) besides.
    pub(super) fn new(mode: SslMode, url: &UrlTls, extra_roots: &[u8]) -> Result<Tls, String> {
        if mode != SslMode::Require {
            if url.uses_tls() {
                return Err(
                    "sslrootcert, sslcert, sslkey, sslpassword, sslcrl and sslcrldir need \
                     TLS: add sslmode=require, verify-ca or verify-full (under \
                     sslmode=prefer, the default, the store connects in the clear)"
                        .to_owned(),
                );
            }
            return Ok(Tls::Off);
        }
        let verify = match (url.verify, &url.roots) {
            (Some(verify), _) => verify,
            // libpq: a root certificate file makes `require` act as
            // `verify-ca`; the platform's authorities are only ever used
            // with `verify-full`.
            (None, Some(RootCertificates::File(_))) => Verify::Authority,
            (None, Some(RootCertificates::System)) => Verify::Full,
            (None, _) => Verify::Nothing,
        };
        if verify == Verify::Nothing && (url.crl_file.is_some() || url.crl_dir.is_some()) {
            return Err(
                "sslcrl and sslcrldir check the server's certificate, which sslmode=require \
                 does not verify without sslrootcert: use sslmode=verify-full or verify-ca"
                    .to_owned(),
            );
        }
        // ring, not aws-lc-rs: it builds without a C toolchain. rustls
        // 0.23.48 deprecates it for lacking post-quantum key exchange; an
        // application that wants that passes a connector of its own
        // (`PostgresStore::from_config`).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let authority = if verify == Verify::Nothing {
            None
        } else {
            let roots = root_store(url.roots.as_ref(), extra_roots)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .with_crls(revocation_lists(url)?)
                    // As OpenSSL under libpq: a list past its next update
                    // date no longer vouches for anything.
                    .enforce_revocation_expiration()
                    .build()
                    .map_err(|e| format!("TLS: {e}"))?;
            Some(webpki)
        };
        let builder = match authority {
            Some(webpki) if verify == Verify::Full => builder.with_webpki_verifier(webpki),
            authority => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Partial {
                    authority,
                    provider,
                })),
        };
        let mut config = match (&url.client_certificate, &url.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(certificate), Some(key)) => {
                let (chain, key) = client_identity(certificate, key, url.key_password.as_ref())?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("sslcert and sslkey: {e}"))?
            }
            _ => return Err("sslcert and sslkey go together: give both, or neither".to_owned()),
        };
        if url.key_password.is_some() && url.client_key.is_none() {
            return Err(
                "sslpassword decrypts the client key of sslkey: give sslcert and sslkey too"
                    .to_owned(),
            );
        }
        config.enable_sni = url.sni;
        Ok(Tls::On(MakeRustlsConnect::new(config)))
    }
}

/// The trusted authorities: from `roots` and `extra` (PEM).
fn root_store(roots: Option<&RootCertificates>, extra: &[u8]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Some(RootCertificates::File(path)) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("sslrootcert {}: cannot read it: {e}", path.display()))?;
            let added = add_pem(&mut store, &pem)
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            if added == 0 {
                return Err(format!(
                    "sslrootcert {}: holds no PEM certificate",
                    path.display()
                ));
            }
        }
        Some(RootCertificates::System) | None => {
            // Certificates the platform holds but rustls cannot parse are
            // skipped, as browsers skip them.
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
        }
    }
    add_pem(&mut store, extra)
        .map_err(|e| format!("PostgresOptions::tls_root_certificates: {e}"))?;
    if store.is_empty() {
        return Err(
            "no trusted certificate authority: the platform has none; give them \
                    with sslrootcert=PATH in the URL or PostgresOptions::tls_root_certificates"
                .to_owned(),
        );
    }
    Ok(store)
}

/// The certificate revocation lists of `sslcrl` and `sslcrldir` (every file
/// in the directory), none if neither is given.
fn revocation_lists(url: &UrlTls) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let mut files = Vec::new();
    if let Some(file) = &url.crl_file {
        files.push(("sslcrl", file.clone()));
    }
    if let Some(dir) = &url.crl_dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("sslcrldir {}: cannot read it: {e}", dir.display()))?;
        let mut in_dir = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| format!("sslcrldir {}: cannot read it: {e}", dir.display()))?
                .path();
            if path.is_file() {
                in_dir.push(path);
            }
        }
        if in_dir.is_empty() {
            return Err(format!(
                "sslcrldir {}: holds no file of revocation lists",
                dir.display()
            ));
        }
        in_dir.sort();
        files.extend(in_dir.into_iter().map(|path| ("sslcrldir", path)));
    }
    let mut lists = Vec::new();
    for (setting, path) in files {
        let pem = std::fs::read(&path)
            .map_err(|e| format!("{setting} {}: cannot read it: {e}", path.display()))?;
        let before = lists.len();
        for list in CertificateRevocationListDer::pem_slice_iter(&pem) {
            lists
                .push(list.map_err(|e| format!("{setting} {}: invalid PEM: {e}", path.display()))?);
        }
        if lists.len() == before {
            return Err(format!(
                "{setting} {}: holds no PEM certificate revocation list (X509 CRL)",
                path.display()
            ));
        }
    }
    Ok(lists)
}

/// The client's certificate chain and private key, from the PEM files
/// `sslcert` and `sslkey` name, the key decrypted with `password` if it is
/// encrypted.
fn client_identity(
    certificate: &Path,
    key: &Path,
    password: Option<&Password>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))
    };
    let chain = CertificateDer::pem_slice_iter(&read(certificate)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslcert {}: invalid PEM: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "sslcert {}: holds no PEM certificate",
            certificate.display()
        ));
    }
    let pem = read(key)?;
    let key = match encrypted_key(&pem) {
        Some(encrypted) => decrypt_key(key, encrypted, password)?,
        None if contains(&pem, b"Proc-Type: 4,ENCRYPTED") => {
            return Err(format!(
                "sslkey {}: the key is encrypted in OpenSSL's legacy format, which the store \
                 does not read: convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
                key.display()
            ));
        }
        None => PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
            format!(
                "sslkey {}: no PEM private key (PKCS#8, encrypted or not, PKCS#1 or SEC1) in \
                 it: {e}",
                key.display()
            )
        })?,
    };
    Ok((chain, key))
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The PEM block of an encrypted PKCS#8 key in `pem`, if it holds one.
fn encrypted_key(pem: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find(ENCRYPTED_BEGIN)?;
    let end = start + text[start..].find(ENCRYPTED_END)? + ENCRYPTED_END.len();
    Some(&text[start..end])
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Decrypts the encrypted PKCS#8 key `block` of the file `path`.
#[cfg(feature = "encrypted-keys")]
fn decrypt_key(
    path: &Path,
    block: &str,
    password: Option<&Password>,
) -> Result<PrivateKeyDer<'static>, String> {
    let Some(Password(password)) = password else {
        return Err(format!(
            "sslkey {}: the key is encrypted: give its password with sslpassword",
            path.display()
        ));
    };
    let (_, document) = pkcs8::Document::from_pem(block)
        .map_err(|e| format!("sslkey {}: invalid PEM: {e}", path.display()))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(document.as_bytes())
        .map_err(|e| format!("sslkey {}: invalid encrypted key: {e}", path.display()))?;
    let key = info.decrypt(password.as_bytes()).map_err(|e| {
        format!(
            "sslkey {}: cannot decrypt the key with sslpassword: the password is wrong, or \
             the key's cipher is not PBES2 with AES ({e})",
            path.display()
        )
    })?;
    Ok(PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.as_bytes().to_vec()),
    ))
}

/// Without the feature `encrypted-keys`, says how to get it.
#[cfg(not(feature = "encrypted-keys"))]
fn decrypt_key(
    path: &Path,
    _: &str,
    _: Option<&Password>,
) -> Result<PrivateKeyDer<'static>, String> {
    Err(format!(
        "sslkey {}: the key is encrypted, and this program was built without dcb-core's \
         `encrypted-keys` feature, which decrypts it: enable it, or give the key unencrypted",
        path.display()
    ))
}

/// Adds every certificate of `pem` to `store`; returns how many.
fn add_pem(store: &mut RootCertStore, pem: &[u8]) -> Result<usize, String> {
    let mut added = 0;
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|e| format!("invalid PEM: {e}"))?;
        store
            .add(certificate)
            .map_err(|e| format!("invalid certificate: {e}"))?;
        added += 1;
    }
    Ok(added)
}

/// What to say of a connection error that a TLS failure caused (what went
/// wrong and what to do), or `None` for other errors.
pub(super) fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        let rustls_error = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls_error) = rustls_error {
            let what_to_do = match rustls_error {
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) => {
                    "the server's certificate was issued for another host name: connect by \
                     the name in the certificate, or use sslmode=verify-ca"
                }
                rustls::Error::InvalidCertificate(CertificateError::Revoked) => {
                    "the server's certificate is revoked by a list in sslcrl or sslcrldir: \
                     the server must present a certificate that is not"
                }
                rustls::Error::InvalidCertificate(CertificateError::UnknownRevocationStatus) => {
                    "sslcrl and sslcrldir hold no revocation list of an authority that \
                     signed the server's certificate: add that authority's list"
                }
                rustls::Error::InvalidCertificate(CertificateError::ExpiredRevocationList) => {
                    "a revocation list in sslcrl or sslcrldir has expired: fetch the \
                     authority's current list"
                }
                rustls::Error::InvalidCertificate(_) => {
                    "the server's certificate is not trusted: give the certificate of the \
                     authority that signed it with sslrootcert=PATH in the URL or \
                     PostgresOptions::tls_root_certificates"
                }
                rustls::Error::AlertReceived(
                    AlertDescription::CertificateRequired | AlertDescription::BadCertificate,
                ) => {
                    "the server asks for a client certificate it trusts: give it with \
                     sslcert=PATH and sslkey=PATH in the URL"
                }
                _ => "the TLS handshake with the server failed",
            };
            return Some(format!("{what_to_do} ({rustls_error})"));
        }
        next = e.source();
    }
    None
}

/// The verifier of `sslmode=require` without a root certificate
/// (`authority` `None`: the certificate is not checked) and of
/// `verify-ca` (it must chain to a trusted authority; the host name it was
/// issued for is not checked). Either way the handshake's signatures are
/// checked: the connection is encrypted to whoever holds the certificate's
/// key.
#[derive(Debug)]
struct Partial {
    authority: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Partial {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(authority) = &self.authority else {
            return Ok(ServerCertVerified::assertion());
        };
        match authority.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // The name is checked after the chain: this error means the
            // chain was good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, UrlTls) {
        split_url(url).unwrap()
    }

    #[test]
    fn urls_without_tls_settings_pass_through() {
        for url in [
            "postgres://u@h:5432/db",
            "postgres://u@h/db?options=-c%20x%3Dy&application_name=a",
            "host=h user=u sslmode=require",
        ] {
            let (out, tls) = split(url);
            assert_eq!(out, url);
            assert_eq!(tls.verify, None);
            assert_eq!(tls.roots, None);
        }
    }

    #[test]
    fn verify_modes_become_require_and_sslrootcert_is_taken_out() {
        let (out, tls) =
            split("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&x=1");
        assert_eq!(out, "postgres://u@h/db?sslmode=require&x=1");
        assert_eq!(tls.verify, Some(Verify::Full));
        assert_eq!(
            tls.roots,
            Some(RootCertificates::File("/etc/ca.pem".into()))
        );

        let (out, tls) = split("postgresql://h/db?sslrootcert=system&sslmode=verify-ca");
        assert_eq!(out, "postgresql://h/db?sslmode=require");
        assert_eq!(tls.verify, Some(Verify::Authority));
        assert_eq!(tls.roots, Some(RootCertificates::System));

        let (out, _) = split("postgres://h/db?sslrootcert=ca.pem");
        assert_eq!(out, "postgres://h/db");

        let (out, tls) = split("postgres://h/db?sslsni=0&sslmode=require");
        assert_eq!(out, "postgres://h/db?sslmode=require");
        assert!(!tls.sni);

        let (out, tls) =
            split("postgres://h/db?sslmode=verify-ca&sslcrl=%2Fetc%2Fcrl.pem&sslcrldir=crls");
        assert_eq!(out, "postgres://h/db?sslmode=require");
        assert_eq!(tls.crl_file, Some("/etc/crl.pem".into()));
        assert_eq!(tls.crl_dir, Some("crls".into()));

        let (out, tls) = split("postgres://h/db?sslpassword=open%20sesame&sslmode=require");
        assert_eq!(out, "postgres://h/db?sslmode=require");
        assert_eq!(tls.key_password, Some(Password("open sesame".to_owned())));
        assert!(
            !format!("{tls:?}").contains("sesame"),
            "the password is never shown"
        );
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let refused = |url: &str| split_url(url).unwrap_err();
        assert!(refused("postgres://h/db?sslmode=allow").contains("not supported"));
        assert!(refused("postgres://h/db?sslrootcert=").contains("empty"));
        assert!(refused("postgres://h/db?sslrootcert=%zz").contains("percent-encoding"));
        assert!(refused("host=h sslmode=verify-full").contains("URLs only"));
        assert!(refused("postgres://h/db?sslpassword=%zz").contains("percent-encoding"));
        assert!(refused("host=h sslpassword=x").contains("URLs only"));
        assert!(refused("postgres://h/db?sslkey=").contains("path of a PEM file"));
        assert!(refused("postgres://h/db?sslcrldir=").contains("directory of PEM files"));
        assert!(refused("host=h sslcrl=crl.pem").contains("URLs only"));
        assert!(
            refused("postgres://h/db?ssl_min_protocol_version=TLSv1.3")
                .contains("ssl_min_protocol_version is not supported")
        );
    }

    #[test]
    fn revocation_lists_need_a_verified_certificate_and_a_list() {
        let fixture = |name: &str| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/tests/tls")
                .join(name)
        };
        let verified = UrlTls {
            verify: Some(Verify::Full),
            roots: Some(RootCertificates::File(fixture("crl-ca.pem"))),
            sni: true,
            client_certificate: None,
            client_key: None,
            key_password: None,
            crl_file: Some(fixture("crl.pem")),
            crl_dir: None,
        };
        assert!(matches!(
            Tls::new(SslMode::Require, &verified, b"").unwrap(),
            Tls::On(_)
        ));
        let crls = tempfile::tempdir().unwrap();
        let dir = UrlTls {
            crl_file: None,
            crl_dir: Some(crls.path().to_owned()),
            ..verified.clone()
        };
        let error = Tls::new(SslMode::Require, &dir, b"").unwrap_err();
        assert!(error.contains("holds no file"), "{error}");
        std::fs::copy(fixture("crl.pem"), crls.path().join("1c71528a.r0")).unwrap();
        assert!(matches!(
            Tls::new(SslMode::Require, &dir, b"").unwrap(),
            Tls::On(_)
        ));
        // A file without a list is refused by name.
        std::fs::write(crls.path().join("notes.txt"), "not a list").unwrap();
        let error = Tls::new(SslMode::Require, &dir, b"").unwrap_err();
        assert!(
            error.contains("notes.txt")
                && error.contains("holds no PEM certificate revocation list"),
            "{error}"
        );
        let not_a_list = UrlTls {
            crl_file: Some(fixture("crl-ca.pem")),
            ..verified.clone()
        };
        let error = Tls::new(SslMode::Require, &not_a_list, b"").unwrap_err();
        assert!(
            error.contains("sslcrl") && error.contains("crl-ca.pem"),
            "{error}"
        );
        let unverified = UrlTls {
            verify: None,
            roots: None,
            ..verified.clone()
        };
        let error = Tls::new(SslMode::Require, &unverified, b"").unwrap_err();
        assert!(error.contains("verify-full or verify-ca"), "{error}");
        let error = Tls::new(SslMode::Prefer, &unverified, b"").unwrap_err();
        assert!(error.contains("need TLS"), "{error}");
    }

    #[test]
    fn require_verifies_once_a_root_file_is_given() {
        let none = UrlTls {
            verify: None,
            roots: None,
            sni: true,
            client_certificate: None,
            client_key: None,
            key_password: None,
            crl_file: None,
            crl_dir: None,
        };
        assert!(matches!(
            Tls::new(SslMode::Prefer, &none, b"").unwrap(),
            Tls::Off
        ));
        assert!(matches!(
            Tls::new(SslMode::Disable, &none, b"").unwrap(),
            Tls::Off
        ));
        assert!(matches!(
            Tls::new(SslMode::Require, &none, b"").unwrap(),
            Tls::On(_)
        ));
        let missing = UrlTls {
            verify: None,
            roots: Some(RootCertificates::File("/nonexistent/ca.pem".into())),
            sni: true,
            client_certificate: None,
            client_key: None,
            key_password: None,
            crl_file: None,
            crl_dir: None,
        };
        let error = Tls::new(SslMode::Require, &missing, b"").unwrap_err();
        assert!(error.contains("cannot read"), "{error}");
        // Under prefer the store would connect in the clear: files that ask
        // for TLS are refused instead of ignored.
        let error = Tls::new(SslMode::Prefer, &missing, b"").unwrap_err();
        assert!(error.contains("need TLS"), "{error}");
        let system = UrlTls {
            roots: Some(RootCertificates::System),
            ..none.clone()
        };
        assert!(matches!(
            Tls::new(SslMode::Require, &system, b"").unwrap(),
            Tls::On(_)
        ));
        let half = UrlTls {
            client_certificate: Some("client.pem".into()),
            ..none.clone()
        };
        let error = Tls::new(SslMode::Require, &half, b"").unwrap_err();
        assert!(error.contains("go together"), "{error}");
        let garbage = Tls::new(
            SslMode::Require,
            &UrlTls {
                verify: Some(Verify::Full),
                roots: None,
                sni: true,
                client_certificate: None,
                client_key: None,
                key_password: None,
                crl_file: None,
                crl_dir: None,
            },
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        )
        .unwrap_err();
        assert!(garbage.contains("tls_root_certificates"), "{garbage}");
    }

    #[test]
    fn a_key_password_needs_a_key_and_a_key_it_can_decrypt() {
        let fixture = |name: &str| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/tests/tls")
                .join(name)
        };
        let password_only = UrlTls {
            verify: None,
            roots: None,
            sni: true,
            client_certificate: None,
            client_key: None,
            key_password: Some(Password("x".to_owned())),
            crl_file: None,
            crl_dir: None,
        };
        let error = Tls::new(SslMode::Require, &password_only, b"").unwrap_err();
        assert!(error.contains("give sslcert and sslkey too"), "{error}");
        let error = Tls::new(SslMode::Prefer, &password_only, b"").unwrap_err();
        assert!(error.contains("need TLS"), "{error}");

        let legacy = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            legacy.path(),
            "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: AES-256-CBC,00000000000000000000000000000000\n\nAAAA\n\
             -----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        let legacy_key = UrlTls {
            client_certificate: Some(fixture("client.pem")),
            client_key: Some(legacy.path().to_owned()),
            ..password_only.clone()
        };
        let error = Tls::new(SslMode::Require, &legacy_key, b"").unwrap_err();
        assert!(error.contains("openssl pkcs8 -topk8"), "{error}");

        let encrypted = UrlTls {
            client_certificate: Some(fixture("client.pem")),
            client_key: Some(fixture("client-encrypted.key")),
            key_password: Some(Password("dcb test password".to_owned())),
            ..password_only.clone()
        };
        // Decrypted with the feature `encrypted-keys`; without it, refused
        // with the feature's name.
        match Tls::new(SslMode::Require, &encrypted, b"") {
            Ok(tls) => assert!(
                cfg!(feature = "encrypted-keys") && matches!(tls, Tls::On(_)),
                "decrypted without the feature"
            ),
            Err(error) => assert!(
                !cfg!(feature = "encrypted-keys") && error.contains("`encrypted-keys` feature"),
                "{error}"
            ),
        }
        // A password for a key that is not encrypted is not needed, and
        // not refused (as libpq).
        let plain = UrlTls {
            client_key: Some(fixture("client.key")),
            ..encrypted.clone()
        };
        assert!(matches!(
            Tls::new(SslMode::Require, &plain, b"").unwrap(),
            Tls::On(_)
        ));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
