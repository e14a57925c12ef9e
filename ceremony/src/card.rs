//! Opening a card share with the card: the PKCS#11 side of card custodians
//! (the Estonian ID card through OpenSC, PIV tokens, HSMs).
//!
//! The order is the point. The share names the card key it is sealed to;
//! the tokens present are searched for that key among what they show
//! without a PIN (certificates and public keys), and only the one token
//! that holds it is asked for its PIN. A locked PIN is refused, the final
//! try needs the custodian's explicit yes, a wrong PIN is reported and
//! never tried again, a PIN-pad reader takes the PIN on its own keys. The
//! card computes one ECDH shared secret with the share's ephemeral key
//! (`CKM_ECDH1_DERIVE`, no KDF), the session is logged out, and the share
//! is opened here ([`seif::custody::card`]).
//!
//! The policy is written against [`Token`], so that what no software token
//! does (a PIN on its final try, a locked PIN, a PIN pad) is tested with a
//! token made for the test; [`Pkcs11Module`] is the real one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use seif::custody::CustodyError;
use seif::custody::card::{CardKey, Curve, Parsed};
use seif_cli::report::Failure;
use zeroize::Zeroizing;

/// What a token says of its user PIN, before anyone types it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinState {
    /// Nothing to say.
    Fine,
    /// A wrong PIN was entered since the last right one.
    CountLow,
    /// One more wrong PIN locks it.
    FinalTry,
    /// Locked: only the PUK (the card's unblocking code) helps.
    Locked,
}

/// A key a token shows without a PIN.
#[derive(Clone, Debug)]
pub struct FoundKey {
    /// Its PKCS#11 id (`CKA_ID`).
    pub id: Vec<u8>,
    /// The public key.
    pub key: CardKey,
}

/// What a token shows without a PIN.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// Its label (untrusted text: escape before printing).
    pub label: String,
    /// Its user PIN's state.
    pub pin: PinState,
    /// Whether the PIN is entered on the reader (a PIN pad).
    pub pin_pad: bool,
    /// The EC keys it shows.
    pub keys: Vec<FoundKey>,
}

/// A token, as the policy needs it.
pub trait Token {
    /// What it shows without a PIN.
    fn info(&mut self) -> Result<TokenInfo, CardError>;
    /// Logs in as the user: with `pin`, or on the reader's pad (`None`).
    fn login(&mut self, pin: Option<&SecretString>) -> Result<(), CardError>;
    /// ECDH of the private key `id` with `peer` (SEC1 uncompressed): the
    /// shared secret's x-coordinate.
    fn derive(&mut self, id: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CardError>;
    /// Logs out (errors ignored: the session ends anyway).
    fn logout(&mut self);
}

/// Who is asked: the custodian at the table.
pub trait Custodian {
    /// The PIN for `token` (the share of `custodian`); `None`: not given.
    fn pin(&mut self, custodian: &str, token: &str) -> Result<Option<SecretString>, CardError>;
    /// Whether to go on although one more wrong PIN locks the card.
    fn consents_to_final_try(&mut self, custodian: &str, token: &str) -> Result<bool, CardError>;
    /// Says something to the custodian (a PIN pad is waiting, a PIN was
    /// mistyped before).
    fn tell(&mut self, text: &str);
}

/// Why a card did not open a share.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The PKCS#11 module failed.
    #[error("the PKCS#11 module {module}: {what}")]
    Module {
        /// Its path.
        module: String,
        /// What failed.
        what: String,
    },
    /// No token is present.
    #[error(
        "no card or token is present: insert {custodian}'s card (check the reader's light), then run the step again"
    )]
    NoToken {
        /// Whose share.
        custodian: String,
    },
    /// No token present holds the share's key.
    #[error(
        "none of the cards present holds the key {custodian}'s share is sealed to ({expected}); found: {found}. Insert {custodian}'s own card"
    )]
    WrongCard {
        /// Whose share.
        custodian: String,
        /// The share's key, short.
        expected: String,
        /// The tokens and keys found, short.
        found: String,
    },
    /// The PIN is locked.
    #[error(
        "the PIN of the card '{token}' is locked: it cannot open {custodian}'s share until it is unblocked with the card's PUK (for an ID card, with the DigiDoc4 client, away from the ceremony laptop)"
    )]
    Locked {
        /// The token.
        token: String,
        /// Whose share.
        custodian: String,
    },
    /// The custodian declined the final try.
    #[error(
        "not opened: one more wrong PIN would lock the card '{token}', and the custodian declined"
    )]
    FinalTryDeclined {
        /// The token.
        token: String,
    },
    /// No PIN was given.
    #[error("no PIN was given for the card '{token}'")]
    NoPin {
        /// The token.
        token: String,
    },
    /// The PIN was wrong (tried once, never again automatically).
    #[error(
        "wrong PIN for the card '{token}' (not tried again: the card counts wrong PINs and locks after a few; run the step again when sure of it)"
    )]
    WrongPin {
        /// The token.
        token: String,
    },
    /// The key may not be used for ECDH (a signing-only key).
    #[error("the card's key {id} may not be used to derive a shared secret (a signing key?)")]
    NotForDerive {
        /// Its id.
        id: String,
    },
    /// The card gave an empty or malformed secret, or it does not open the
    /// share.
    #[error(transparent)]
    Share(#[from] seif::custody::card::CardShareError),
}

/// A key, short: the curve and the first bytes of SHA-256 of its point.
pub fn key_short(key: &CardKey) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(key.point());
    format!("{} {}", key.curve().name(), &hex::encode(h)[..16])
}

/// Opens `share` with the one token among `tokens` that holds its key.
pub fn open(
    share: &Parsed<'_>,
    tokens: &mut [Box<dyn Token + '_>],
    who: &mut dyn Custodian,
) -> Result<Zeroizing<Vec<u8>>, CardError> {
    let custodian = share.custodian.to_owned();
    if tokens.is_empty() {
        return Err(CardError::NoToken { custodian });
    }
    // Every token is looked at before any PIN is asked for.
    let mut found = Vec::new();
    let mut holder = None;
    for (i, t) in tokens.iter_mut().enumerate() {
        let info = t.info()?;
        if holder.is_none()
            && let Some(k) = info.keys.iter().find(|k| k.key == share.recipient)
        {
            holder = Some((i, k.id.clone(), info.clone()));
        }
        found.push(info);
    }
    let Some((i, id, info)) = holder else {
        let found = found
            .iter()
            .map(|t| {
                let keys: Vec<String> = t.keys.iter().map(|k| key_short(&k.key)).collect();
                format!(
                    "'{}' ({})",
                    seif::untrusted::escape(&t.label),
                    if keys.is_empty() {
                        "no EC key".to_owned()
                    } else {
                        keys.join(", ")
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(CardError::WrongCard {
            custodian,
            expected: key_short(&share.recipient),
            found,
        });
    };
    let token = seif::untrusted::escape(&info.label).into_owned();
    match info.pin {
        PinState::Locked => return Err(CardError::Locked { token, custodian }),
        PinState::FinalTry => {
            if !who.consents_to_final_try(&custodian, &token)? {
                return Err(CardError::FinalTryDeclined { token });
            }
        }
        PinState::CountLow => who.tell(&format!(
            "the card '{token}' counted a wrong PIN since its last right one: type it carefully"
        )),
        PinState::Fine => {}
    }
    let t = &mut tokens[i];
    if info.pin_pad {
        who.tell(&format!(
            "enter the PIN of the card '{token}' on the reader's keypad"
        ));
        t.login(None).map_err(|e| whose(e, &custodian))?;
    } else {
        let Some(pin) = who.pin(&custodian, &token)? else {
            return Err(CardError::NoPin { token });
        };
        t.login(Some(&pin)).map_err(|e| whose(e, &custodian))?;
    }
    let z = t.derive(&id, share.ephemeral.point());
    t.logout();
    Ok(share.open_with_shared_secret(&z?)?)
}

/// How the shares of card custodians are opened, on the steps that take
/// shares.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CardArgs {
    /// The PKCS#11 module that reaches the custodians' cards: OpenSC's
    /// opensc-pkcs11.so for an Estonian ID card, libykcs11.so for a YubiKey.
    /// Native code: its path and SHA-256 are logged.
    #[arg(long = "pkcs11-module", value_name = "PATH")]
    pub pkcs11_module: Option<PathBuf>,
    /// Read a card's PIN from FILE instead of a prompt (LABEL: the card
    /// custodian's label). Never from the command line.
    #[arg(long = "pin-file", value_name = "LABEL=FILE")]
    pub pin_files: Vec<String>,
}

impl CardArgs {
    /// `--pin-file LABEL=FILE`, each file readable now (before anyone is
    /// asked for anything).
    pub fn pin_files(&self) -> Result<BTreeMap<String, PathBuf>, Failure> {
        let mut out = BTreeMap::new();
        for a in &self.pin_files {
            let Some((label, file)) = a.split_once('=') else {
                return Err(Failure::usage(format!(
                    "--pin-file '{}': expected LABEL=FILE",
                    seif::untrusted::Shown(a)
                )));
            };
            crate::prompt::read_secret_file(Path::new(file)).map_err(|e| {
                Failure::error(format!("--pin-file {label}=…: {e}"))
                    .hint(crate::context::NOTHING_ASKED)
            })?;
            if out.insert(label.to_owned(), PathBuf::from(file)).is_some() {
                return Err(Failure::usage(format!(
                    "--pin-file: '{label}' is given twice"
                )));
            }
        }
        Ok(out)
    }
}

/// `seif-ceremony card-open`: the child process that opens one card share.
#[derive(clap::Args, Clone, Debug)]
pub struct CardOpenArgs {
    /// The PKCS#11 module.
    #[arg(long = "pkcs11-module", value_name = "PATH")]
    pkcs11_module: PathBuf,
    /// The PIN file, if one was given for this custodian.
    #[arg(long = "pin-file", value_name = "FILE")]
    pin_file: Option<PathBuf>,
}

/// The exit status of a card step that did not open the share (its
/// message is on stdout, one line).
const CHILD_REFUSED: u8 = 4;

/// The opener the steps use: each card share is opened by a short-lived
/// child process (`card-open`), which loads the module, talks to the
/// card, and returns only the decrypted share on its standard output. The
/// module's native code never runs in the process that holds the other
/// custodians' shares and the reconstructed key.
pub fn opener(module: PathBuf, pins: BTreeMap<String, PathBuf>) -> Box<CustodyOpener> {
    Box::new(move |parsed, bytes| {
        use std::io::{Read, Write};
        use std::process::{Command, Stdio};
        let step = |e: String| CustodyError::CardStep(e);
        let exe = std::env::current_exe()
            .map_err(|e| step(format!("cannot start the card step: {e}")))?;
        let mut cmd = Command::new(exe);
        cmd.arg("card-open").arg("--pkcs11-module").arg(&module);
        if let Some(f) = pins.get(parsed.custodian) {
            cmd.arg("--pin-file").arg(f);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| step(format!("cannot start the card step: {e}")))?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(bytes)
            .map_err(|e| step(format!("cannot give the card step its share: {e}")))?;
        let mut out = Zeroizing::new(Vec::new());
        child
            .stdout
            .take()
            .expect("piped")
            .take(seif::shares::SHARE_TEXT_MAX as u64 + 4096)
            .read_to_end(&mut out)
            .map_err(|e| step(format!("cannot read the card step: {e}")))?;
        let status = child
            .wait()
            .map_err(|e| step(format!("the card step: {e}")))?;
        if status.success() {
            Ok(out)
        } else {
            let text = String::from_utf8_lossy(&out);
            Err(step(if text.trim().is_empty() {
                format!("the card step failed ({status})")
            } else {
                seif::untrusted::escape(text.trim()).into_owned()
            }))
        }
    })
}

type CustodyOpener = seif::custody::CardOpener;

/// The custodian at the terminal (or their PIN file), for the child.
struct AtTable {
    pin_file: Option<PathBuf>,
}

impl Custodian for AtTable {
    fn pin(&mut self, custodian: &str, token: &str) -> Result<Option<SecretString>, CardError> {
        if let Some(f) = &self.pin_file {
            return crate::prompt::read_secret_file(f)
                .map(Some)
                .map_err(|e| CardError::NoPin {
                    token: format!("{token} ({e})"),
                });
        }
        rpassword::prompt_password(format!(
            "PIN of the card '{token}' ({custodian}'s share; PIN1 on an ID card): "
        ))
        .map(|p| Some(SecretString::from(p)))
        .map_err(|e| CardError::NoPin {
            token: format!(
                "{token} (cannot prompt: {e}; use --pin-file LABEL=FILE when there is no terminal)"
            ),
        })
    }

    fn consents_to_final_try(&mut self, custodian: &str, token: &str) -> Result<bool, CardError> {
        use std::io::{BufRead, Write};
        // Asked at the terminal only: a PIN file cannot consent.
        let Ok(tty) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
        else {
            return Ok(false);
        };
        let mut w = &tty;
        let _ = write!(
            w,
            "One more wrong PIN locks the card '{token}' ({custodian}'s share). Type yes to try: "
        );
        let mut line = String::new();
        let _ = std::io::BufReader::new(&tty).read_line(&mut line);
        Ok(line.trim() == "yes")
    }

    fn tell(&mut self, text: &str) {
        eprintln!("seif-ceremony: {text}");
    }
}

/// The child: reads the share file on stdin, opens it with the card, and
/// writes the decrypted share on stdout; on failure, one line saying why
/// (exit status 4).
pub fn run_child(args: &CardOpenArgs) -> std::process::ExitCode {
    use std::io::{Read, Write};
    let fail = |msg: String| {
        let _ = writeln!(std::io::stdout(), "{msg}");
        std::process::ExitCode::from(CHILD_REFUSED)
    };
    if let Err(e) = seif::hardening::disable_core_dumps() {
        return fail(format!("cannot disable core dumps: {e}"));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    if let Err(e) = std::io::stdin()
        .lock()
        .take(1 << 20)
        .read_to_end(&mut bytes)
    {
        return fail(format!("cannot read the share: {e}"));
    }
    let parsed = match seif::custody::card::parse(&bytes) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let module = match Pkcs11Module::load(&args.pkcs11_module) {
        Ok(m) => m,
        Err(e) => return fail(e.to_string()),
    };
    let opened = match module.tokens() {
        Ok(mut tokens) => open(
            &parsed,
            &mut tokens,
            &mut AtTable {
                pin_file: args.pin_file.clone(),
            },
        ),
        Err(e) => Err(e),
    };
    // Logged out already; the module is finalised before the share leaves.
    let finished = module.finish();
    match (opened, finished) {
        (Ok(share), Ok(())) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(&share).and_then(|()| out.flush()) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => fail(format!("cannot hand the share back: {e}")),
            }
        }
        (Err(e), _) | (Ok(_), Err(e)) => fail(e.to_string()),
    }
}

/// A PIN the card found locked only at login (a token that does not say
/// so in its flags): the refusal names whose share it was.
fn whose(e: CardError, custodian: &str) -> CardError {
    match e {
        CardError::Locked { token, .. } => CardError::Locked {
            token,
            custodian: custodian.to_owned(),
        },
        e => e,
    }
}

/// A PKCS#11 module, loaded and initialised; finalised when dropped.
pub struct Pkcs11Module {
    ctx: cryptoki::context::Pkcs11,
    path: String,
}

impl Pkcs11Module {
    /// Loads and initialises the module at `path` (native code: the
    /// ceremony logs its path and SHA-256).
    pub fn load(path: &std::path::Path) -> Result<Self, CardError> {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        let name = path.display().to_string();
        let err = |what: String| CardError::Module {
            module: name.clone(),
            what,
        };
        let ctx = Pkcs11::new(path).map_err(|e| err(format!("cannot be loaded: {e}")))?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| err(format!("cannot be initialised: {e}")))?;
        Ok(Pkcs11Module { ctx, path: name })
    }

    /// The tokens present, each with a read-only session.
    pub fn tokens(&self) -> Result<Vec<Box<dyn Token + '_>>, CardError> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| self.err(format!("cannot list its slots: {e}")))?;
        let mut out: Vec<Box<dyn Token + '_>> = Vec::new();
        for slot in slots {
            // An uninitialised token (SoftHSM2 always shows one, a blank
            // card may) holds no key: not a card to ask.
            if !self
                .ctx
                .get_token_info(slot)
                .is_ok_and(|t| t.token_initialized())
            {
                continue;
            }
            let session = self
                .ctx
                .open_ro_session(slot)
                .map_err(|e| self.err(format!("cannot open a session: {e}")))?;
            out.push(Box::new(Pkcs11Token {
                module: self,
                slot,
                session,
            }));
        }
        Ok(out)
    }

    fn err(&self, what: String) -> CardError {
        CardError::Module {
            module: self.path.clone(),
            what,
        }
    }
}

impl Pkcs11Module {
    /// Finalises the module (`C_Finalize`): this process is done with it.
    /// (Dropping it does the same.)
    pub fn finish(self) -> Result<(), CardError> {
        let path = self.path;
        self.ctx.finalize().map_err(|e| CardError::Module {
            module: path,
            what: format!("cannot be finalised: {e}"),
        })
    }
}

struct Pkcs11Token<'m> {
    module: &'m Pkcs11Module,
    slot: cryptoki::slot::Slot,
    session: cryptoki::session::Session,
}

impl Token for Pkcs11Token<'_> {
    fn info(&mut self) -> Result<TokenInfo, CardError> {
        use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
        let m = self.module;
        let ti = m
            .ctx
            .get_token_info(self.slot)
            .map_err(|e| m.err(format!("cannot read a token's information: {e}")))?;
        let pin = if ti.user_pin_locked() {
            PinState::Locked
        } else if ti.user_pin_final_try() {
            PinState::FinalTry
        } else if ti.user_pin_count_low() {
            PinState::CountLow
        } else {
            PinState::Fine
        };
        let mut keys = Vec::new();
        // Public keys (EC point and curve), then certificates: what a card
        // shows before its PIN. A key shown both ways is listed once.
        let publics = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
            ])
            .map_err(|e| m.err(format!("cannot search a token: {e}")))?;
        for h in publics {
            let attrs = self
                .session
                .get_attributes(
                    h,
                    &[
                        AttributeType::Id,
                        AttributeType::EcParams,
                        AttributeType::EcPoint,
                    ],
                )
                .map_err(|e| m.err(format!("cannot read a public key: {e}")))?;
            let (mut id, mut params, mut point) = (Vec::new(), None, None);
            for a in attrs {
                match a {
                    Attribute::Id(v) => id = v,
                    Attribute::EcParams(v) => params = Some(v),
                    Attribute::EcPoint(v) => point = Some(v),
                    _ => {}
                }
            }
            if let (Some(params), Some(point)) = (params, point)
                && let Some(key) = ec_key(&params, &point)
            {
                push_key(&mut keys, id, key);
            }
        }
        let certs = self
            .session
            .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
            .map_err(|e| m.err(format!("cannot search a token: {e}")))?;
        for h in certs {
            let attrs = self
                .session
                .get_attributes(h, &[AttributeType::Id, AttributeType::Value])
                .map_err(|e| m.err(format!("cannot read a certificate: {e}")))?;
            let (mut id, mut der) = (Vec::new(), None);
            for a in attrs {
                match a {
                    Attribute::Id(v) => id = v,
                    Attribute::Value(v) => der = Some(v),
                    _ => {}
                }
            }
            if let Some(der) = der
                && let Ok(c) = seif::custody::card::Certificate::from_der(&der)
            {
                push_key(&mut keys, id, c.key);
            }
        }
        Ok(TokenInfo {
            label: ti.label().trim_end().to_owned(),
            pin,
            pin_pad: ti.protected_authentication_path(),
            keys,
        })
    }

    fn login(&mut self, pin: Option<&SecretString>) -> Result<(), CardError> {
        use cryptoki::error::{Error, RvError};
        use cryptoki::session::UserType;
        use secrecy::ExposeSecret;
        let label = self.label();
        let pin = pin.map(|p| cryptoki::types::AuthPin::new(p.expose_secret().into()));
        match self.session.login(UserType::User, pin.as_ref()) {
            Ok(()) => Ok(()),
            Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(Error::Pkcs11(RvError::PinIncorrect, _)) => {
                Err(CardError::WrongPin { token: label })
            }
            Err(Error::Pkcs11(RvError::PinLocked, _)) => Err(CardError::Locked {
                token: label,
                custodian: String::new(),
            }),
            Err(e) => Err(self.module.err(format!("login failed: {e}"))),
        }
    }

    fn derive(&mut self, id: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CardError> {
        use cryptoki::error::{Error, RvError};
        use cryptoki::mechanism::Mechanism;
        use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
        use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
        let m = self.module;
        let keys = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id.to_vec()),
            ])
            .map_err(|e| m.err(format!("cannot search the card: {e}")))?;
        let Some(&key) = keys.first() else {
            return Err(m.err(format!(
                "the card shows the public key {} but no private key with that id after the PIN",
                hex::encode(id)
            )));
        };
        let params = Ecdh1DeriveParams::new(EcKdf::null(), peer);
        let derived = self
            .session
            .derive_key(
                &Mechanism::Ecdh1Derive(params),
                key,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                    Attribute::Token(false),
                ],
            )
            .map_err(|e| match e {
                Error::Pkcs11(RvError::KeyFunctionNotPermitted, _)
                | Error::Pkcs11(RvError::KeyTypeInconsistent, _) => CardError::NotForDerive {
                    id: hex::encode(id),
                },
                e => m.err(format!("the card could not derive: {e}")),
            })?;
        let value = self
            .session
            .get_attributes(derived, &[AttributeType::Value])
            .map_err(|e| m.err(format!("the derived secret cannot be read: {e}")));
        let _ = self.session.destroy_object(derived);
        let z = match value?.pop() {
            Some(Attribute::Value(v)) => Zeroizing::new(v),
            _ => Zeroizing::new(Vec::new()),
        };
        Ok(z)
    }

    fn logout(&mut self) {
        let _ = self.session.logout();
    }
}

impl Pkcs11Token<'_> {
    fn label(&self) -> String {
        self.module
            .ctx
            .get_token_info(self.slot)
            .map(|t| seif::untrusted::escape(t.label().trim_end()).into_owned())
            .unwrap_or_default()
    }
}

fn push_key(keys: &mut Vec<FoundKey>, id: Vec<u8>, key: CardKey) {
    if !keys.iter().any(|k| k.key == key) {
        keys.push(FoundKey { id, key });
    }
}

/// An EC public key object's key: `CKA_EC_PARAMS` (the curve's OID, DER)
/// and `CKA_EC_POINT` (the point, as a DER OCTET STRING, or raw on some
/// tokens). `None`: another curve, or not a point.
fn ec_key(params: &[u8], point: &[u8]) -> Option<CardKey> {
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let curve = match params {
        P256 => Curve::P256,
        P384 => Curve::P384,
        _ => return None,
    };
    let n = curve.point_len();
    let raw = match point {
        [0x04, len, rest @ ..] if *len as usize == n && rest.len() == n => rest,
        [0x04, 0x81, len, rest @ ..] if *len as usize == n && rest.len() == n => rest,
        raw if raw.len() == n => raw,
        _ => return None,
    };
    CardKey::from_sec1(curve, raw).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token made for the test: a software key, and whatever PIN state
    /// and behaviour the test sets.
    struct TestToken {
        label: String,
        pin: PinState,
        pin_pad: bool,
        scalar: Vec<u8>,
        key: CardKey,
        right_pin: &'static str,
        logins: Vec<Option<String>>,
        logged_in: bool,
        empty_secret: bool,
        locked_at_login: bool,
    }

    fn token(label: &str, seed: u8) -> TestToken {
        let scalar = vec![seed; 48];
        let key = CardKey::from_secret_scalar(Curve::P384, &scalar).unwrap();
        TestToken {
            label: label.into(),
            pin: PinState::Fine,
            pin_pad: false,
            scalar,
            key,
            right_pin: "1234",
            logins: Vec::new(),
            logged_in: false,
            empty_secret: false,
            locked_at_login: false,
        }
    }

    impl Token for TestToken {
        fn info(&mut self) -> Result<TokenInfo, CardError> {
            Ok(TokenInfo {
                label: self.label.clone(),
                pin: self.pin,
                pin_pad: self.pin_pad,
                keys: vec![FoundKey {
                    id: vec![1],
                    key: self.key.clone(),
                }],
            })
        }
        fn login(&mut self, pin: Option<&SecretString>) -> Result<(), CardError> {
            use secrecy::ExposeSecret;
            let pin = pin.map(|p| p.expose_secret().to_owned());
            self.logins.push(pin.clone());
            if self.locked_at_login {
                return Err(CardError::Locked {
                    token: self.label.clone(),
                    custodian: String::new(),
                });
            }
            if self.pin_pad || pin.as_deref() == Some(self.right_pin) {
                self.logged_in = true;
                Ok(())
            } else {
                Err(CardError::WrongPin {
                    token: self.label.clone(),
                })
            }
        }
        fn derive(&mut self, _: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CardError> {
            assert!(self.logged_in, "derive only after login");
            if self.empty_secret {
                return Ok(Zeroizing::new(Vec::new()));
            }
            Ok(seif::custody::card::shared_secret(
                Curve::P384,
                &self.scalar,
                peer,
            )?)
        }
        fn logout(&mut self) {
            self.logged_in = false;
        }
    }

    /// The custodian: the PIN to type, the answer to the final-try
    /// question, and a record of what they were asked and told.
    #[derive(Default)]
    struct Person {
        pin: Option<&'static str>,
        consent: bool,
        asked_pin: usize,
        asked_consent: usize,
        told: Vec<String>,
    }

    impl Custodian for Person {
        fn pin(&mut self, _: &str, _: &str) -> Result<Option<SecretString>, CardError> {
            self.asked_pin += 1;
            Ok(self.pin.map(SecretString::from))
        }
        fn consents_to_final_try(&mut self, _: &str, _: &str) -> Result<bool, CardError> {
            self.asked_consent += 1;
            Ok(self.consent)
        }
        fn tell(&mut self, text: &str) {
            self.told.push(text.to_owned());
        }
    }

    fn share_for(t: &TestToken) -> Vec<u8> {
        seif::custody::card::protect(b"seif share v1\n...", "alice", &t.key)
    }

    fn run(
        file: &[u8],
        tokens: Vec<TestToken>,
        who: &mut Person,
    ) -> (Result<Zeroizing<Vec<u8>>, CardError>, Vec<TestToken>) {
        let parsed = seif::custody::card::parse(file).unwrap();
        let mut owned = tokens;
        let mut boxed: Vec<Box<dyn Token + '_>> = owned
            .iter_mut()
            .map(|t| Box::new(TokenRef(t)) as Box<dyn Token>)
            .collect();
        let r = open(&parsed, &mut boxed, who);
        drop(boxed);
        (r, owned)
    }

    /// Borrows a test token as a [`Token`], so the test can look at it after.
    struct TokenRef<'a>(&'a mut TestToken);

    impl Token for TokenRef<'_> {
        fn info(&mut self) -> Result<TokenInfo, CardError> {
            self.0.info()
        }
        fn login(&mut self, pin: Option<&SecretString>) -> Result<(), CardError> {
            self.0.login(pin)
        }
        fn derive(&mut self, id: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CardError> {
            self.0.derive(id, peer)
        }
        fn logout(&mut self) {
            self.0.logout()
        }
    }

    #[test]
    fn the_card_that_holds_the_key_opens_the_share_and_only_it_is_asked() {
        let (other, alices) = (token("other", 5), token("alice", 7));
        let file = share_for(&alices);
        let mut who = Person {
            pin: Some("1234"),
            ..Person::default()
        };
        let (r, tokens) = run(&file, vec![other, alices], &mut who);
        assert_eq!(&**r.unwrap(), b"seif share v1\n...");
        assert_eq!(who.asked_pin, 1);
        assert!(tokens[0].logins.is_empty(), "the other card was not asked");
        assert_eq!(tokens[1].logins, vec![Some("1234".to_owned())]);
        assert!(!tokens[1].logged_in, "logged out after deriving");
    }

    #[test]
    fn the_wrong_card_is_named_before_any_pin() {
        let alices = token("alice", 7);
        let file = share_for(&alices);
        let mut who = Person {
            pin: Some("1234"),
            ..Person::default()
        };
        let (r, tokens) = run(&file, vec![token("bob's card", 5)], &mut who);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("none of the cards present holds the key alice's share is sealed to")
                && e.contains(&key_short(&alices.key))
                && e.contains("'bob's card' (P-384 "),
            "{e}"
        );
        assert_eq!(who.asked_pin, 0, "no PIN asked");
        assert!(tokens[0].logins.is_empty());
        let (r, _) = run(&file, vec![], &mut who);
        assert!(matches!(r, Err(CardError::NoToken { .. })));
        assert_eq!(who.asked_pin, 0);
    }

    #[test]
    fn a_wrong_pin_is_tried_once() {
        let alices = token("alice", 7);
        let file = share_for(&alices);
        let mut who = Person {
            pin: Some("9999"),
            ..Person::default()
        };
        let (r, tokens) = run(&file, vec![alices], &mut who);
        assert!(matches!(r, Err(CardError::WrongPin { .. })), "{r:?}");
        assert_eq!(tokens[0].logins.len(), 1, "never retried");
        assert_eq!(who.asked_pin, 1);
    }

    #[test]
    fn a_locked_pin_is_refused_and_the_final_try_needs_consent() {
        let mut alices = token("alice", 7);
        let file = share_for(&alices);
        alices.pin = PinState::Locked;
        let mut who = Person {
            pin: Some("1234"),
            consent: true,
            ..Person::default()
        };
        let (r, tokens) = run(&file, vec![alices], &mut who);
        assert!(matches!(r, Err(CardError::Locked { .. })), "{r:?}");
        assert_eq!(who.asked_pin, 0);
        assert!(tokens[0].logins.is_empty());

        let mut alices = token("alice", 7);
        alices.pin = PinState::FinalTry;
        let mut who = Person {
            pin: Some("1234"),
            consent: false,
            ..Person::default()
        };
        let (r, tokens) = run(&file, vec![alices], &mut who);
        assert!(
            matches!(r, Err(CardError::FinalTryDeclined { .. })),
            "{r:?}"
        );
        assert_eq!((who.asked_consent, who.asked_pin), (1, 0));
        assert!(tokens[0].logins.is_empty());

        let mut alices = token("alice", 7);
        alices.pin = PinState::FinalTry;
        let mut who = Person {
            pin: Some("1234"),
            consent: true,
            ..Person::default()
        };
        let (r, _) = run(&file, vec![alices], &mut who);
        assert!(r.is_ok());
        assert_eq!((who.asked_consent, who.asked_pin), (1, 1));
    }

    /// A card whose flags did not say its PIN was locked, and that says so
    /// at login: refused, naming whose share it was.
    #[test]
    fn a_pin_locked_at_login_names_the_share() {
        let mut alices = token("alice-card", 7);
        let file = share_for(&alices);
        alices.locked_at_login = true;
        let mut who = Person {
            pin: Some("1234"),
            ..Person::default()
        };
        let (r, _) = run(&file, vec![alices], &mut who);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("the PIN of the card 'alice-card' is locked: it cannot open alice's share"),
            "{e}"
        );
    }

    #[test]
    fn a_pin_pad_takes_the_pin_and_an_empty_secret_is_refused() {
        let mut alices = token("alice", 7);
        let file = share_for(&alices);
        alices.pin_pad = true;
        let mut who = Person::default();
        let (r, tokens) = run(&file, vec![alices], &mut who);
        assert!(r.is_ok());
        assert_eq!(who.asked_pin, 0, "the PIN is typed on the reader");
        assert_eq!(tokens[0].logins, vec![None]);
        assert!(who.told.iter().any(|t| t.contains("keypad")));

        let mut alices = token("alice", 7);
        alices.empty_secret = true;
        let mut who = Person {
            pin: Some("1234"),
            ..Person::default()
        };
        let (r, tokens) = run(&file, vec![alices], &mut who);
        assert!(matches!(r, Err(CardError::Share(_))), "{r:?}");
        assert!(!tokens[0].logged_in, "logged out even so");
    }

    #[test]
    fn ec_points_as_tokens_give_them() {
        let t = token("alice", 7);
        let p384 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
        let raw = t.key.point().to_vec();
        let mut der = vec![0x04, raw.len() as u8];
        der.extend_from_slice(&raw);
        assert_eq!(ec_key(&p384, &der), Some(t.key.clone()));
        assert_eq!(ec_key(&p384, &raw), Some(t.key.clone()));
        assert_eq!(
            ec_key(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], &der),
            None
        );
        assert_eq!(ec_key(&p384, &der[..50]), None);
    }

    /// The tools the SoftHSM2 test needs; under `SEIF_CI=1` their absence
    /// fails the test, otherwise it is skipped visibly.
    fn softhsm_available() -> bool {
        let have = ["softhsm2-util", "pkcs11-tool", "openssl"].iter().all(|t| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        if !have {
            let why = "the SoftHSM2 card test needs softhsm2, opensc (pkcs11-tool) and openssl (run scripts/test to install them)";
            assert!(std::env::var_os("SEIF_CI").is_none(), "{why}");
            eprintln!("skipped: {why}");
            if let Some(log) = std::env::var_os("SEIF_SKIP_LOG") {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(log)
                    .unwrap();
                writeln!(f, "card::tests::softhsm: {why}").unwrap();
            }
        }
        have
    }

    /// A SoftHSM2 token made like an ID card (scripts/softhsm-token): the
    /// authentication key (derive) and its certificate at id 01, a signing
    /// key at id 02. Returns its directory and the module's path.
    fn softhsm_token(dir: &std::path::Path, label: &str) -> String {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/softhsm-token");
        let o = std::process::Command::new(script)
            .arg(dir)
            .args([label, "87654321", "1234"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let env = std::fs::read_to_string(dir.join("env.sh")).unwrap();
        env.lines()
            .find_map(|l| l.strip_prefix("export PKCS11_MODULE='"))
            .unwrap()
            .trim_end_matches('\'')
            .to_owned()
    }

    fn use_token(dir: &std::path::Path) {
        // SoftHSM2 reads its configuration at C_Initialize, from the
        // environment. This is the only test in this binary that touches
        // SOFTHSM2_CONF, and no other thread reads it.
        unsafe { std::env::set_var("SOFTHSM2_CONF", dir.join("softhsm2.conf")) };
    }

    /// The real module against SoftHSM2: the ID-card-like token opens a
    /// share sealed to its certificate's key; a wrong PIN is refused once
    /// and the token then reports it; another card is named, not asked;
    /// the signing key is refused; and `pkcs11-tool --derive` (OpenSC, a
    /// second card side) computes the same shared secret as seif.
    #[test]
    fn softhsm_id_card_like_token() {
        if !softhsm_available() {
            return;
        }
        use seif::custody::card::{Certificate, parse, protect};
        let work = tempfile::tempdir().unwrap();
        let (a, b) = (work.path().join("a"), work.path().join("b"));
        let module = softhsm_token(&a, "MARI TAMM");
        softhsm_token(&b, "JAAN TAMM");
        let cert =
            Certificate::from_pem_or_der(&std::fs::read(a.join("cert01.pem")).unwrap()).unwrap();
        assert!(
            cert.subject.contains("PNOEE-38001085718"),
            "{}",
            cert.subject
        );
        assert_eq!(cert.key_agreement, Some(true));
        let signing =
            Certificate::from_pem_or_der(&std::fs::read(a.join("cert02.der")).unwrap()).unwrap();
        assert_eq!(signing.key_agreement, Some(false));
        let file = protect(b"seif share v1\n...", "mari", &cert.key);
        let share = parse(&file).unwrap();
        let path = std::path::Path::new(&module);

        use_token(&a);
        let m = Pkcs11Module::load(path).unwrap();
        let mut who = Person {
            pin: Some("1234"),
            ..Person::default()
        };
        let opened = open(&share, &mut m.tokens().unwrap(), &mut who).unwrap();
        assert_eq!(&**opened, b"seif share v1\n...");

        // A wrong PIN: refused, tried once; the token counts it.
        let mut who = Person {
            pin: Some("0000"),
            ..Person::default()
        };
        let r = open(&share, &mut m.tokens().unwrap(), &mut who);
        assert!(matches!(r, Err(CardError::WrongPin { .. })), "{r:?}");
        let mut tokens = m.tokens().unwrap();
        assert_eq!(tokens[0].info().unwrap().pin, PinState::CountLow);
        let mut who = Person {
            pin: Some("1234"),
            ..Person::default()
        };
        assert!(open(&share, &mut tokens, &mut who).is_ok());
        drop(tokens);
        assert!(
            who.told.iter().any(|t| t.contains("counted a wrong PIN")),
            "{:?}",
            who.told
        );

        // The signing key may not derive.
        let to_signing = protect(b"x", "mari", &signing.key);
        let mut who = Person {
            pin: Some("1234"),
            ..Person::default()
        };
        let r = open(
            &parse(&to_signing).unwrap(),
            &mut m.tokens().unwrap(),
            &mut who,
        );
        assert!(matches!(r, Err(CardError::NotForDerive { .. })), "{r:?}");

        // OpenSC's pkcs11-tool derives the same secret from the share's
        // ephemeral key (given as a P-384 SubjectPublicKeyInfo).
        let mut t = m.tokens().unwrap();
        t[0].login(Some(&SecretString::from("1234"))).unwrap();
        let z = t[0].derive(&[1], share.ephemeral.point()).unwrap();
        t[0].logout();
        drop(t);
        let mut spki = hex::decode("3076301006072a8648ce3d020106052b81040022036200").unwrap();
        spki.extend_from_slice(share.ephemeral.point());
        std::fs::write(work.path().join("eph.der"), &spki).unwrap();
        let o = std::process::Command::new("pkcs11-tool")
            .args([
                "--module",
                &module,
                "--token-label",
                "MARI TAMM",
                "--login",
                "--pin",
                "1234",
            ])
            .args(["--derive", "-m", "ECDH1-DERIVE", "--id", "01", "-i"])
            .arg(work.path().join("eph.der"))
            .arg("-o")
            .arg(work.path().join("z.bin"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read(work.path().join("z.bin")).unwrap(), *z);
        m.finish().unwrap();

        // Another person's card: named, and no PIN asked.
        use_token(&b);
        let m = Pkcs11Module::load(path).unwrap();
        let mut who = Person {
            pin: Some("1234"),
            ..Person::default()
        };
        let r = open(&share, &mut m.tokens().unwrap(), &mut who);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("'JAAN TAMM' (P-384 "), "{e}");
        assert_eq!(who.asked_pin, 0);
        m.finish().unwrap();
    }
}
