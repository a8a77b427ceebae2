//! flake.lock is written by hand (no Nix here to lock): check it is a valid lock file,
//! that its nixpkgs node matches flake.nix's URL exactly (otherwise Nix re-locks, which
//! needs the network) and that it pins the verified revision and hash.
//!
//! The tests live in `mod flake_lock` so the Nix build can skip them (`--skip flake_lock::`):
//! flake.nix and flake.lock are not part of the package's source.

mod flake_lock {
    use std::path::Path;

    use anyhow::{Context, Result};
    use serde_json::Value;

    /// The pin, as verified (shared NIX-FACTS.md): nixpkgs nixos-26.05 on 2026-07-04.
    const REV: &str = "a50de1b7d8a586adc18d2395c19de7d6058e6030";
    const NAR_HASH: &str = "sha256-uslt2pqShTIXDdAHRHv2QkYLsVdY8Oqwz0EA48/RSM8=";
    const LAST_MODIFIED: u64 = 1_783_148_766;

    fn read(name: &str) -> Result<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }

    fn lock() -> Result<Value> {
        Ok(serde_json::from_str(&read("flake.lock")?)?)
    }

    /// Every `inputs.X.url = "..."` in flake.nix, as (X, url).
    fn flake_inputs() -> Result<Vec<(String, String)>> {
        let flake = read("flake.nix")?;
        let mut inputs = Vec::new();
        for line in flake.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some(rest) = line.strip_prefix("inputs.") else {
                continue;
            };
            let Some((name, value)) = rest.split_once(".url") else {
                continue;
            };
            let url = value
                .trim()
                .trim_start_matches('=')
                .trim()
                .trim_end_matches(';')
                .trim_matches('"');
            inputs.push((name.to_owned(), url.to_owned()));
        }
        Ok(inputs)
    }

    #[test]
    fn the_lock_file_is_version_7_with_a_root_node() -> Result<()> {
        let lock = lock()?;
        assert_eq!(lock["version"], 7);
        assert_eq!(lock["root"], "root");
        let nodes = lock["nodes"].as_object().context("no nodes")?;
        let mut names: Vec<&str> = nodes.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["nixpkgs", "root"],
            "exactly the root and nixpkgs nodes"
        );
        assert_eq!(
            lock["nodes"]["root"]["inputs"],
            serde_json::json!({"nixpkgs": "nixpkgs"})
        );
        Ok(())
    }

    #[test]
    fn flake_nix_has_exactly_one_input_and_the_lock_matches_its_url() -> Result<()> {
        let inputs = flake_inputs()?;
        assert_eq!(
            inputs,
            [(
                "nixpkgs".to_owned(),
                "github:NixOS/nixpkgs/nixos-26.05".to_owned()
            )]
        );
        // github:OWNER/REPO/REF is this "original" node, field for field.
        let lock = lock()?;
        assert_eq!(
            lock["nodes"]["nixpkgs"]["original"],
            serde_json::json!({
                "owner": "NixOS",
                "ref": "nixos-26.05",
                "repo": "nixpkgs",
                "type": "github",
            })
        );
        Ok(())
    }

    #[test]
    fn nixpkgs_is_locked_to_the_verified_revision_and_hash() -> Result<()> {
        let lock = lock()?;
        let locked = &lock["nodes"]["nixpkgs"]["locked"];
        assert_eq!(locked["type"], "github");
        assert_eq!(locked["owner"], "NixOS");
        assert_eq!(locked["repo"], "nixpkgs");
        assert_eq!(locked["rev"], REV);
        assert_eq!(locked["narHash"], NAR_HASH);
        assert_eq!(locked["lastModified"], LAST_MODIFIED);
        let mut fields: Vec<&str> = locked
            .as_object()
            .context("locked")?
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["lastModified", "narHash", "owner", "repo", "rev", "type"],
            "no other locked fields (a `ref` here would not match what Nix writes)"
        );
        Ok(())
    }
}
