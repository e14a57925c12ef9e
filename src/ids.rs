//! Typed identifiers, parsed once at the boundary.
//!
//! Records, lists, envelopes and journals spell ids as lowercase hex; inside
//! the program each is a fixed-size array of its own type, so that a
//! snapshot id cannot be passed where an object id is wanted, a short or
//! malformed id is refused when it is read (never sliced later), and store
//! keys are built in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::encoding::{DecodeError, from_hex, to_hex};

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Its length in bytes.
            pub const LEN: usize = $len;

            /// Parses lowercase hex of exactly the right length.
            pub fn from_hex(s: &str) -> Result<Self, DecodeError> {
                from_hex::<$len>(s).map($name)
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                to_hex(&self.0)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The first `n` hex digits, for people (`seif ls`).
            pub fn short(&self, n: usize) -> String {
                let mut s = self.to_hex();
                s.truncate(n);
                s
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;
            fn from_str(s: &str) -> Result<Self, DecodeError> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// A vault: the hash of its first signing key (FORMAT.md §1).
    VaultId,
    32
);
hex_id!(
    /// A snapshot: 16 random bytes chosen by the push.
    SnapshotId,
    16
);
hex_id!(
    /// A content-addressed blob (sealed object, object list or record): the
    /// SHA-256 of its bytes, which is also the last component of its key.
    BlobId,
    32
);
hex_id!(
    /// A commitment to a data key (FORMAT.md §1).
    Commitment,
    32
);

impl BlobId {
    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        BlobId(Sha256::digest(bytes).into())
    }
}

impl SnapshotId {
    /// A fresh random snapshot id.
    pub fn random() -> Self {
        SnapshotId(crate::secrets::random_array())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_refusals() {
        let id = SnapshotId([0xab; 16]);
        assert_eq!(id.to_string(), "ab".repeat(16));
        assert_eq!(id.to_string().parse::<SnapshotId>().unwrap(), id);
        assert_eq!(id.short(12), "abababababab");
        for bad in ["ab", &"AB".repeat(16), &"ab".repeat(17), "zz"] {
            assert!(bad.parse::<SnapshotId>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(16)));
        assert_eq!(serde_json::from_str::<SnapshotId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SnapshotId>("\"abc\"").is_err());
        assert_eq!(
            BlobId::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
