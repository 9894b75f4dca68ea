//! Decrypts a sops file with keys from files: `decrypt FILE KEYFILE...`
//! (`*.agekey`, `*.asc`), printing the plaintext.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, keys) = args.split_first().ok_or("usage: decrypt FILE KEYFILE...")?;
    let mut data = BTreeMap::new();
    for key in keys {
        let name = Path::new(key).file_name().ok_or("bad key path")?.to_string_lossy().into_owned();
        data.insert(name, std::fs::read(key)?);
    }
    let ring = ferry_sops::KeyRing::from_secret_data(&data)?;
    let out = ferry_sops::decrypt(&std::fs::read(file)?, ferry_sops::Format::from_path(file), &ring)?;
    std::io::stdout().write_all(&out)?;
    Ok(())
}
