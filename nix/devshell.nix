# `nix develop`: the Rust toolchain, PostgreSQL for the tests, and the tools CI uses.
{
  mkShell,
  rustc,
  cargo,
  clippy,
  rustfmt,
  rust-analyzer,
  cargo-nextest,
  postgresql,
  skopeo,
  jq,
  nixfmt,
  deadnix,
}:
mkShell {
  packages = [
    rustc
    cargo
    clippy
    rustfmt
    rust-analyzer
    cargo-nextest
    postgresql
    skopeo
    jq
    nixfmt
    deadnix
  ];
  # The test suite and `maia dev` find initdb/pg_ctl on PATH; oci_index must not skip.
  MAIA_TEST_REQUIRE_SKOPEO = "1";
}
