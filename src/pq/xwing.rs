//! The MLKEM768-X25519 KEM (X-Wing): ML-KEM-768 and X25519 under one
//! SHA3-256 combiner, as `draft-connolly-cfrg-xwing-kem` and
//! `draft-ietf-hpke-pq` define it and Go age 1.3 uses it.
//!
//! The private key is a 32-byte seed. SHAKE256 expands it to the ML-KEM-768
//! key generation seeds `d || z` and the X25519 secret key; everything else
//! is derived from those. The shared secret is
//! `SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")`, so it is secret as
//! long as either ML-KEM-768 or X25519 holds.

use ml_kem::kem::Decapsulate;
use ml_kem::{B32, EncapsulateDeterministic, EncodedSizeUser, KemCore, MlKem768};
use sha3::digest::{Digest, ExtendableOutput, Update, XofReader};
use sha3::{Sha3_256, Shake256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Length of the seed that is the private key.
pub const SEED_LEN: usize = 32;
/// Length of an ML-KEM-768 encapsulation key.
pub const MLKEM_PUBLIC_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext.
pub const MLKEM_CIPHERTEXT_LEN: usize = 1088;
/// Length of an X25519 public key or share.
pub const X25519_LEN: usize = 32;
/// Length of a public key: ML-KEM-768 encapsulation key, then X25519 key.
pub const PUBLIC_KEY_LEN: usize = MLKEM_PUBLIC_LEN + X25519_LEN;
/// Length of an encapsulated key (`enc`): ML-KEM-768 ciphertext, then the
/// X25519 ephemeral share.
pub const ENC_LEN: usize = MLKEM_CIPHERTEXT_LEN + X25519_LEN;
/// Length of the randomness one encapsulation consumes: the ML-KEM message
/// `m`, then the X25519 ephemeral secret.
pub const ESEED_LEN: usize = 64;
/// The combiner's domain label, the six ASCII bytes `\.//^\`.
pub const XWING_LABEL: &[u8; 6] = b"\\.//^\\";

/// ML-KEM's modulus q: every 12-bit coefficient of an encapsulation key must
/// be below it (FIPS 203, section 7.2, "modulus check").
const MLKEM_Q: u16 = 3329;

/// What an encapsulation gives: the shared secret, and `enc` for the
/// recipient.
pub(crate) type Encapsulated = (Zeroizing<[u8; 32]>, Box<[u8; ENC_LEN]>);

type DecapsulationKey = <MlKem768 as KemCore>::DecapsulationKey;
type EncapsulationKey = <MlKem768 as KemCore>::EncapsulationKey;

/// Why a public key or an encapsulated key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KemError {
    /// Wrong length.
    Length,
    /// The ML-KEM-768 encapsulation key has a coefficient of q or more.
    MlKemNotCanonical,
    /// The X25519 public key or share is of low order: the Diffie-Hellman
    /// result would be all zeros, known to anyone.
    X25519LowOrder,
}

/// A private key: the seed and what it expands to. No `Debug`; zeroized on
/// drop (ML-KEM's decapsulation key by the `ml-kem` crate's `zeroize`
/// feature, the X25519 key by `x25519-dalek`'s).
pub(crate) struct PrivateKey {
    seed: Zeroizing<[u8; SEED_LEN]>,
    dk_m: Box<DecapsulationKey>,
    sk_x: x25519_dalek::StaticSecret,
    public: PublicKey,
}

/// A public key: `pk_M (1184) || pk_X (32)`.
#[derive(Clone)]
pub(crate) struct PublicKey {
    bytes: Box<[u8; PUBLIC_KEY_LEN]>,
    ek_m: Box<EncapsulationKey>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl PrivateKey {
    /// Expands a seed: `SHAKE256(seed, 96) = d (32) || z (32) || sk_X (32)`;
    /// `(dk_M, pk_M) = ML-KEM-768.KeyGen_internal(d, z)`;
    /// `pk_X = X25519(sk_X, 9)`.
    pub(crate) fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        let mut expanded = Zeroizing::new([0u8; 96]);
        Shake256::default()
            .chain(seed)
            .finalize_xof()
            .read(&mut expanded[..]);
        let mut d = B32::default();
        let mut z = B32::default();
        d.as_mut_slice().copy_from_slice(&expanded[0..32]);
        z.as_mut_slice().copy_from_slice(&expanded[32..64]);
        let (dk_m, ek_m) = MlKem768::generate_deterministic(&d, &z);
        d.as_mut_slice().zeroize();
        z.as_mut_slice().zeroize();
        let mut sk_bytes = Zeroizing::new([0u8; 32]);
        sk_bytes.copy_from_slice(&expanded[64..96]);
        let sk_x = x25519_dalek::StaticSecret::from(*sk_bytes);
        let pk_x = x25519_dalek::PublicKey::from(&sk_x);
        let mut bytes = Box::new([0u8; PUBLIC_KEY_LEN]);
        bytes[..MLKEM_PUBLIC_LEN].copy_from_slice(ek_m.as_bytes().as_slice());
        bytes[MLKEM_PUBLIC_LEN..].copy_from_slice(pk_x.as_bytes());
        PrivateKey {
            seed: Zeroizing::new(*seed),
            dk_m: Box::new(dk_m),
            sk_x,
            public: PublicKey {
                bytes,
                ek_m: Box::new(ek_m),
            },
        }
    }

    pub(crate) fn seed(&self) -> &[u8; SEED_LEN] {
        &self.seed
    }

    pub(crate) fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Decapsulates `enc = ct_M (1088) || ct_X (32)`. ML-KEM rejects
    /// implicitly (a wrong ciphertext gives a pseudorandom secret, found out
    /// only by the AEAD that follows); an X25519 share of low order is refused.
    pub(crate) fn decapsulate(&self, enc: &[u8]) -> Result<Zeroizing<[u8; 32]>, KemError> {
        if enc.len() != ENC_LEN {
            return Err(KemError::Length);
        }
        let (ct_m, ct_x) = enc.split_at(MLKEM_CIPHERTEXT_LEN);
        let ct_m = ml_kem::Ciphertext::<MlKem768>::try_from(ct_m).map_err(|_| KemError::Length)?;
        let ct_x: [u8; 32] = ct_x.try_into().map_err(|_| KemError::Length)?;
        let mut ss_m = self
            .dk_m
            .decapsulate(&ct_m)
            .expect("ML-KEM decapsulation is infallible");
        let ss_x = Zeroizing::new(
            self.sk_x
                .diffie_hellman(&x25519_dalek::PublicKey::from(ct_x))
                .to_bytes(),
        );
        let result = if is_all_zero(&ss_x) {
            Err(KemError::X25519LowOrder)
        } else {
            Ok(combine(
                ss_m.as_slice(),
                &ss_x,
                &ct_x,
                self.public.x25519_bytes(),
            ))
        };
        ss_m.as_mut_slice().zeroize();
        result
    }
}

impl PublicKey {
    /// Parses `pk_M (1184) || pk_X (32)`, with FIPS 203's modulus check on
    /// `pk_M` and a refusal of low-order X25519 keys.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, KemError> {
        let bytes: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| KemError::Length)?;
        let (pk_m, pk_x) = bytes.split_at(MLKEM_PUBLIC_LEN);
        if !mlkem_public_key_is_canonical(pk_m) {
            return Err(KemError::MlKemNotCanonical);
        }
        let pk_x: [u8; 32] = pk_x.try_into().map_err(|_| KemError::Length)?;
        if x25519_is_low_order(&pk_x) {
            return Err(KemError::X25519LowOrder);
        }
        let encoded =
            ml_kem::Encoded::<EncapsulationKey>::try_from(pk_m).map_err(|_| KemError::Length)?;
        let ek_m = EncapsulationKey::from_bytes(&encoded);
        Ok(PublicKey {
            bytes: Box::new(bytes),
            ek_m: Box::new(ek_m),
        })
    }

    pub(crate) fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.bytes
    }

    fn x25519_bytes(&self) -> &[u8; 32] {
        self.bytes[MLKEM_PUBLIC_LEN..]
            .try_into()
            .expect("the key ends in 32 bytes of X25519")
    }

    /// Encapsulates with the given randomness (X-Wing's
    /// `EncapsulateDerand`): `m = eseed[0..32]` for ML-KEM-768,
    /// `ek_X = eseed[32..64]` for X25519. Returns `(shared secret, enc)`.
    pub(crate) fn encapsulate_derand(
        &self,
        eseed: &[u8; ESEED_LEN],
    ) -> Result<Encapsulated, KemError> {
        let mut m = B32::default();
        m.as_mut_slice().copy_from_slice(&eseed[..32]);
        let (ct_m, mut ss_m) = self
            .ek_m
            .encapsulate_deterministic(&m)
            .expect("ML-KEM encapsulation is infallible");
        m.as_mut_slice().zeroize();
        let mut ek_x = Zeroizing::new([0u8; 32]);
        ek_x.copy_from_slice(&eseed[32..]);
        let ek_x = x25519_dalek::StaticSecret::from(*ek_x);
        let ct_x = x25519_dalek::PublicKey::from(&ek_x);
        let ss_x = Zeroizing::new(
            ek_x.diffie_hellman(&x25519_dalek::PublicKey::from(*self.x25519_bytes()))
                .to_bytes(),
        );
        if is_all_zero(&ss_x) {
            ss_m.as_mut_slice().zeroize();
            return Err(KemError::X25519LowOrder);
        }
        let ss = combine(ss_m.as_slice(), &ss_x, ct_x.as_bytes(), self.x25519_bytes());
        ss_m.as_mut_slice().zeroize();
        let mut enc = Box::new([0u8; ENC_LEN]);
        enc[..MLKEM_CIPHERTEXT_LEN].copy_from_slice(ct_m.as_slice());
        enc[MLKEM_CIPHERTEXT_LEN..].copy_from_slice(ct_x.as_bytes());
        Ok((ss, enc))
    }
}

/// `SHA3-256(ss_M || ss_X || ct_X || pk_X || XWING_LABEL)`.
fn combine(ss_m: &[u8], ss_x: &[u8; 32], ct_x: &[u8; 32], pk_x: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha3_256::new();
    Digest::update(&mut h, ss_m);
    Digest::update(&mut h, ss_x);
    Digest::update(&mut h, ct_x);
    Digest::update(&mut h, pk_x);
    Digest::update(&mut h, XWING_LABEL);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&h.finalize());
    out
}

fn is_all_zero(bytes: &[u8; 32]) -> bool {
    bytes.ct_eq(&[0u8; 32]).into()
}

/// A point is of low order exactly when a multiple of the cofactor sends it
/// to zero; every clamped scalar is such a multiple.
fn x25519_is_low_order(point: &[u8; 32]) -> bool {
    let mut scalar = [0x55u8; 32];
    scalar[0] &= 248;
    scalar[31] = (scalar[31] & 127) | 64;
    is_all_zero(&x25519_dalek::x25519(scalar, *point))
}

/// FIPS 203's encapsulation key check: `ByteEncode12(ByteDecode12(t))` must
/// give back the same 1152 bytes, i.e. every 12-bit coefficient is below q.
fn mlkem_public_key_is_canonical(pk_m: &[u8]) -> bool {
    pk_m[..MLKEM_PUBLIC_LEN - 32].chunks_exact(3).all(|b| {
        let lo = u16::from(b[0]) | (u16::from(b[1] & 0x0f) << 8);
        let hi = u16::from(b[1] >> 4) | (u16::from(b[2]) << 4);
        lo < MLKEM_Q && hi < MLKEM_Q
    })
}
