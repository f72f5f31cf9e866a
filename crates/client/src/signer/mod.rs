//! Where the payer's key comes from: a Solana CLI keypair file, an environment variable, or
//! memory. Keys are never logged; `Debug` on a `Keypair` shows only the public key.

use std::path::Path;

use solana_keypair::Keypair;

/// A key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The file could not be read or written.
    #[error("keypair file {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The environment variable is not set.
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The bytes are not a 64-byte Ed25519 keypair.
    #[error("not a keypair: expected a JSON array of 64 bytes or base58 of 64 bytes")]
    Invalid,
}

/// Parses a keypair from a Solana CLI JSON array (`[12,34,…]`, 64 numbers) or base58 text.
pub fn parse_keypair(text: &str) -> Result<Keypair, SignerError> {
    let t = text.trim();
    let bytes: Vec<u8> = if t.starts_with('[') {
        serde_json::from_str(t).map_err(|_| SignerError::Invalid)?
    } else {
        bs58::decode(t)
            .into_vec()
            .map_err(|_| SignerError::Invalid)?
    };
    let arr: [u8; 64] = bytes.try_into().map_err(|_| SignerError::Invalid)?;
    Keypair::try_from(&arr[..]).map_err(|_| SignerError::Invalid)
}

/// Loads a Solana CLI keypair file.
pub fn load_keypair_file(path: &Path) -> Result<Keypair, SignerError> {
    let text = std::fs::read_to_string(path).map_err(|e| SignerError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_keypair(&text)
}

/// Loads a keypair from an environment variable (JSON array or base58).
pub fn keypair_from_env(var: &str) -> Result<Keypair, SignerError> {
    let v = std::env::var(var).map_err(|_| SignerError::MissingEnv(var.to_owned()))?;
    parse_keypair(&v)
}

/// Writes a keypair file in the Solana CLI format, readable by its owner only.
pub fn write_keypair_file(path: &Path, key: &Keypair) -> Result<(), SignerError> {
    let err = |e: std::io::Error| SignerError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let json = serde_json::to_string(&key.to_bytes().to_vec()).map_err(|_| SignerError::Invalid)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    std::io::Write::write_all(&mut f, json.as_bytes()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_signer::Signer;

    #[test]
    fn json_and_base58_forms_load_the_same_key() {
        let k = Keypair::new_from_array([5; 32]);
        let json = serde_json::to_string(&k.to_bytes().to_vec()).unwrap();
        let b58 = bs58::encode(k.to_bytes()).into_string();
        assert_eq!(parse_keypair(&json).unwrap().pubkey(), k.pubkey());
        assert_eq!(parse_keypair(&b58).unwrap().pubkey(), k.pubkey());
        assert!(matches!(
            parse_keypair("[1,2,3]"),
            Err(SignerError::Invalid)
        ));
        assert!(matches!(
            parse_keypair("not a key"),
            Err(SignerError::Invalid)
        ));
    }

    #[test]
    fn keypair_files_round_trip_and_are_private() {
        let dir = std::env::temp_dir().join(format!("mppsol-signer-{}", std::process::id()));
        let path = dir.join("id.json");
        let _ = std::fs::remove_file(&path);
        let k = Keypair::new_from_array([6; 32]);
        write_keypair_file(&path, &k).unwrap();
        assert_eq!(load_keypair_file(&path).unwrap().pubkey(), k.pubkey());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Never overwrite an existing key.
        assert!(matches!(
            write_keypair_file(&path, &k),
            Err(SignerError::File { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
