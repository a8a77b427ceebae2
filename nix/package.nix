# maia, built with nixpkgs' Rust tooling. Called by the native package set (dynamic,
# glibc) and by the static cross sets in ./static.nix; the same file for all of them.
{
  lib,
  stdenv,
  rustPlatform,
  postgresql,
  skopeo,
  jq,
}:
let
  cargoToml = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = "maia";
  inherit (cargoToml.package) version;

  # Exactly what `cargo build` and `cargo test` read: a README edit does not rebuild,
  # and `embed_migrations!` still sees migrations/ (build.rs reruns on it).
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../build.rs
      ../src
      ../migrations
      ../tests
      ../oci/make-index
    ];
  };

  # No git dependencies, so no outputHashes and no cargoHash: nothing to compute by hand.
  cargoLock.lockFile = ../Cargo.lock;

  # The test suite starts its own PostgreSQL cluster from initdb/pg_ctl on PATH (loopback
  # and a private socket directory only, fine in the sandbox); tests/oci_index.rs runs
  # oci/make-index and reads its output with skopeo. Tests run wherever the build
  # platform can execute the result, and only there (static arm64 from x86_64: off).
  doCheck = stdenv.buildPlatform.canExecute stdenv.hostPlatform;
  nativeCheckInputs = [
    postgresql
    skopeo
    jq
  ];
  preCheck = ''
    export HOME=$TMPDIR
    export MAIA_TEST_REQUIRE_SKOPEO=1
  '';
  # tests/flake_lock.rs compares flake.lock with flake.nix, which are not part of the
  # source (a flake edit must not rebuild the binary); Nix checked the lock already.
  checkFlags = [ "--skip=flake_lock::" ];

  meta = {
    description = cargoToml.package.description;
    homepage = cargoToml.package.repository;
    license = lib.licenses.agpl3Plus;
    mainProgram = "maia";
    platforms = lib.platforms.linux;
  };
}
