//! HPKE (RFC 9180) in base mode, single shot, for the one suite age's
//! `mlkem768x25519` recipient uses: KEM MLKEM768-X25519 (0x647a), KDF
//! HKDF-SHA256 (0x0001), AEAD ChaCha20-Poly1305 (0x0003).
//!
//! Only what age needs is here: one message, empty `aad`, no PSK, no
//! exporter. The KEM's shared secret goes straight into the key schedule
//! (the hybrid KEM has no `ExtractAndExpand` step of its own).

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hkdf::{Hkdf, HkdfExtract};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The HPKE KEM id of MLKEM768-X25519.
pub const KEM_ID: u16 = 0x647a;
/// The HPKE KDF id of HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// The HPKE AEAD id of ChaCha20-Poly1305.
pub const AEAD_ID: u16 = 0x0003;
/// HPKE's base mode.
const MODE_BASE: u8 = 0x00;
/// ChaCha20-Poly1305's tag length.
pub const TAG_LEN: usize = 16;

/// `suite_id = "HPKE" || u16 kem_id || u16 kdf_id || u16 aead_id`.
fn suite_id(kem_id: u16) -> [u8; 10] {
    let mut s = [0u8; 10];
    s[..4].copy_from_slice(b"HPKE");
    s[4..6].copy_from_slice(&kem_id.to_be_bytes());
    s[6..8].copy_from_slice(&KDF_ID.to_be_bytes());
    s[8..10].copy_from_slice(&AEAD_ID.to_be_bytes());
    s
}

/// `LabeledExtract(salt, label, ikm) =
///  HKDF-Extract(salt, "HPKE-v1" || suite_id || label || ikm)`.
fn labeled_extract(suite: &[u8; 10], salt: &[u8], label: &[u8], ikm: &[u8]) -> Hkdf<Sha256> {
    let mut ex = HkdfExtract::<Sha256>::new(Some(salt));
    ex.input_ikm(b"HPKE-v1");
    ex.input_ikm(suite);
    ex.input_ikm(label);
    ex.input_ikm(ikm);
    ex.finalize().1
}

/// `LabeledExpand(prk, label, info, L) =
///  HKDF-Expand(prk, u16 L || "HPKE-v1" || suite_id || label || info, L)`.
fn labeled_expand(suite: &[u8; 10], prk: &Hkdf<Sha256>, label: &[u8], info: &[u8], out: &mut [u8]) {
    let len = u16::try_from(out.len())
        .expect("short output")
        .to_be_bytes();
    prk.expand_multi_info(&[&len, b"HPKE-v1", suite, label, info], out)
        .expect("HKDF-SHA256 can give 32 bytes");
}

/// The AEAD key and base nonce of a base-mode context.
pub(crate) struct Context {
    key: Zeroizing<[u8; 32]>,
    base_nonce: [u8; 12],
}

/// RFC 9180 `KeySchedule(mode_base, shared_secret, info, psk = "", psk_id = "")`,
/// keeping only `key` and `base_nonce`.
pub(crate) fn key_schedule(kem_id: u16, shared_secret: &[u8], info: &[u8]) -> Context {
    let suite = suite_id(kem_id);
    let mut psk_id_hash = [0u8; 32];
    psk_id_hash.copy_from_slice(&labeled_extract_bytes(&suite, b"", b"psk_id_hash", b""));
    let mut info_hash = [0u8; 32];
    info_hash.copy_from_slice(&labeled_extract_bytes(&suite, b"", b"info_hash", info));
    let mut context = [0u8; 65];
    context[0] = MODE_BASE;
    context[1..33].copy_from_slice(&psk_id_hash);
    context[33..].copy_from_slice(&info_hash);
    let secret = labeled_extract(&suite, shared_secret, b"secret", b"");
    let mut key = Zeroizing::new([0u8; 32]);
    labeled_expand(&suite, &secret, b"key", &context, &mut key[..]);
    let mut base_nonce = [0u8; 12];
    labeled_expand(&suite, &secret, b"base_nonce", &context, &mut base_nonce);
    Context { key, base_nonce }
}

/// `LabeledExtract` returning the PRK bytes (for the two hashes of the
/// context, which are public).
fn labeled_extract_bytes(suite: &[u8; 10], salt: &[u8], label: &[u8], ikm: &[u8]) -> [u8; 32] {
    let mut ex = HkdfExtract::<Sha256>::new(Some(salt));
    ex.input_ikm(b"HPKE-v1");
    ex.input_ikm(suite);
    ex.input_ikm(label);
    ex.input_ikm(ikm);
    ex.finalize().0.into()
}

impl Context {
    /// Seals the first (and only) message: sequence number 0, so the nonce is
    /// `base_nonce` itself. Returns `ciphertext || tag`.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(&Key::from(*self.key));
        let mut out = plaintext.to_vec();
        let tag = cipher
            .encrypt_inout_detached(
                &Nonce::from(self.base_nonce),
                aad,
                out.as_mut_slice().into(),
            )
            .expect("a short message always encrypts");
        out.extend_from_slice(&tag);
        out
    }

    /// Opens the first message; `None` if the tag does not check.
    pub(crate) fn open(&self, aad: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let split = ciphertext.len().checked_sub(TAG_LEN)?;
        let (body, tag) = ciphertext.split_at(split);
        let cipher = ChaCha20Poly1305::new(&Key::from(*self.key));
        let mut out = Zeroizing::new(body.to_vec());
        cipher
            .decrypt_inout_detached(
                &Nonce::from(self.base_nonce),
                aad,
                out.as_mut_slice().into(),
                &Tag::try_from(tag).ok()?,
            )
            .ok()?;
        Some(out)
    }
}

#[cfg(test)]
impl Context {
    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }
    pub(crate) fn base_nonce(&self) -> &[u8; 12] {
        &self.base_nonce
    }
}
