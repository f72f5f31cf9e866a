//! Cluster names as the Solana method spells them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Solana cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Network {
    /// `mainnet` (the default when a request omits it).
    #[default]
    Mainnet,
    /// `devnet`.
    Devnet,
    /// `localnet`: a local validator or the embedded ledger.
    Localnet,
}

/// Not a network name the method defines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Solana network `{0}` (expected mainnet, devnet or localnet)")]
pub struct UnknownNetwork(pub String);

impl Network {
    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Devnet => "devnet",
            Network::Localnet => "localnet",
        }
    }
}

impl FromStr for Network {
    type Err = UnknownNetwork;
    /// Accepts the spec's names and, from peers, `mainnet-beta` (how `@solana/mpp` and the
    /// cluster itself name mainnet). We always emit the spec's name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet" | "mainnet-beta" => Ok(Network::Mainnet),
            "devnet" => Ok(Network::Devnet),
            "localnet" => Ok(Network::Localnet),
            other => Err(UnknownNetwork(other.to_owned())),
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_mainnet_beta_is_accepted() {
        for n in [Network::Mainnet, Network::Devnet, Network::Localnet] {
            assert_eq!(n.as_str().parse::<Network>(), Ok(n));
        }
        assert_eq!("mainnet-beta".parse::<Network>(), Ok(Network::Mainnet));
        assert_eq!(
            "testnet".parse::<Network>(),
            Err(UnknownNetwork("testnet".into()))
        );
    }
}
