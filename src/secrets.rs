//! Secret key material. Each secret has its own type: zeroized on drop, with
//! no `Debug` or `Display`, compared in constant time, and exposed only to the
//! code that uses it.

use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox};
use subtle::ConstantTimeEq;

/// Length in bytes of the vault secret and of every data key.
pub const KEY_LEN: usize = 32;

/// Fills `buf` from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) {
    OsRng.fill_bytes(buf);
}

/// Returns `N` bytes from the operating system's CSPRNG (for public values
/// such as ids and nonces).
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

macro_rules! secret_key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(SecretBox<[u8; KEY_LEN]>);

        impl $name {
            /// Makes a fresh key from the operating system's CSPRNG.
            pub fn generate() -> Self {
                let mut key = Box::new([0u8; KEY_LEN]);
                fill_random(&mut key[..]);
                Self(SecretBox::new(key))
            }

            /// Takes ownership of key bytes. The caller's copy should itself
            /// be zeroizing (the argument is moved into a zeroizing box).
            pub fn from_bytes(bytes: zeroize::Zeroizing<[u8; KEY_LEN]>) -> Self {
                let mut key = Box::new([0u8; KEY_LEN]);
                key.copy_from_slice(&bytes[..]);
                Self(SecretBox::new(key))
            }

            /// The raw key bytes, for the code that must use them.
            pub fn expose(&self) -> &[u8; KEY_LEN] {
                self.0.expose_secret()
            }

            /// Constant-time equality.
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.expose().ct_eq(other.expose()).into()
            }
        }
    };
}

secret_key_type!(
    /// The vault secret: 32 bytes from the OS CSPRNG, made once at the `init`
    /// ceremony. It never touches a disk in plaintext; it lives in memory only
    /// during a ceremony, split into shares otherwise.
    VaultSecret
);

secret_key_type!(
    /// A data key: one per sealed unit (a sealed file or a snapshot), wrapped
    /// to the vault's recipients. Payload keys are derived from it.
    DataKey
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_compare_in_constant_time() {
        let a = DataKey::generate();
        let b = DataKey::generate();
        assert!(!a.ct_eq(&b));
        let a2 = DataKey::from_bytes(zeroize::Zeroizing::new(*a.expose()));
        assert!(a.ct_eq(&a2));
    }
}
