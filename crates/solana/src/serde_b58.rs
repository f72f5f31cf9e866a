//! Serde adapters for base58 addresses and hashes.

/// `Address` as a base58 string.
pub mod address {
    use serde::{Deserialize, Deserializer, Serializer};
    use solana_address::Address;

    /// Serialises as base58.
    pub fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    /// Parses base58, refusing anything that is not 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        crate::charge::request::parse_address(&s)
            .ok_or_else(|| serde::de::Error::custom("not a base58 32-byte address"))
    }
}

/// `Option<Address>` as an optional base58 string.
pub mod opt_address {
    use serde::{Deserialize, Deserializer, Serializer};
    use solana_address::Address;

    /// Serialises as base58.
    pub fn serialize<S: Serializer>(a: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.collect_str(a),
            None => s.serialize_none(),
        }
    }

    /// Parses base58, refusing anything that is not 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| {
            crate::charge::request::parse_address(&s)
                .ok_or_else(|| serde::de::Error::custom("not a base58 32-byte address"))
        })
        .transpose()
    }
}

/// `Option<Hash>` as an optional base58 string.
pub mod opt_hash {
    use serde::{Deserialize, Deserializer, Serializer};
    use solana_hash::Hash;

    /// Serialises as base58.
    pub fn serialize<S: Serializer>(h: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.collect_str(h),
            None => s.serialize_none(),
        }
    }

    /// Parses base58, refusing anything that is not 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| {
            let bytes: [u8; 32] = bs58::decode(&*s)
                .into_vec()
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| serde::de::Error::custom("not a base58 32-byte hash"))?;
            Ok(Hash::new_from_array(bytes))
        })
        .transpose()
    }
}
