# maia, built with nixpkgs' Rust tooling. Called by the native package set (dynamic,
# glibc), by `pkgsStatic` for the images, and by the explicit cross sets (./packages.nix).
{
  lib,
  stdenv,
  rustPlatform,
  postgresql,
  skopeo,
  jq,
  # Run the timing-sensitive fault tests (tests/faults) instead of the package's suite.
  # That is `checks.faults`, never the package: a slow or loaded builder must not turn
  # `nix build` into a failure.
  faultTests ? false,
}:
let
  cargoToml = lib.importTOML ../Cargo.toml;
  fs = lib.fileset;
  # Exactly what `cargo build` and `cargo test` read: a README edit does not rebuild,
  # `embed_migrations!` still sees migrations/ and migrations-knowledge/ (build.rs reruns on
  # them), `include_bytes!` the web UI's files in ui/, and every target
  # Cargo.toml declares ([[example]] bench) exists. cargo finds test targets by looking at
  # tests/: leaving tests/faults out is what keeps the fault tests out of the package's
  # check phase. tests/flake_lock.rs compares flake.lock with flake.nix, and tests/readme.rs
  # holds README.md to the binary's keys: neither file is part of the source (an edit must
  # not rebuild the binary), and Nix checked the lock already.
  source = fs.unions [
    ../Cargo.toml
    ../Cargo.lock
    ../build.rs
    ../src
    ../migrations
    ../migrations-knowledge
    ../ui
    ../examples
    ../oci/make-index
    ../oci/image-config.json
    # tests/api/metrics.rs checks that its queries name only metrics maia exposes.
    ../oci/grafana-dashboard.json
    (fs.difference ../tests (
      fs.unions [
        ../tests/flake_lock.rs
        ../tests/readme.rs
        ../tests/faults
      ]
    ))
  ];
in
rustPlatform.buildRustPackage {
  pname = if faultTests then "maia-fault-tests" else "maia";
  inherit (cargoToml.package) version;

  src = fs.toSource {
    root = ../.;
    fileset = if faultTests then fs.union source ../tests/faults else source;
  };

  # No git dependencies, so no outputHashes and no cargoHash: nothing to compute by hand.
  cargoLock.lockFile = ../Cargo.lock;

  # The test suite starts its own PostgreSQL cluster from initdb/pg_ctl on PATH (loopback
  # and a private socket directory only, fine in the sandbox); tests/oci_index.rs runs
  # oci/make-index and reads its output with skopeo. The static builds (the images'
  # binaries) skip it: the same source's suite runs in `packages.maia`, and a binary built
  # for another architecture would run it under emulation, slowly and with its timeouts.
  doCheck = stdenv.buildPlatform.canExecute stdenv.hostPlatform && !stdenv.hostPlatform.isStatic;
  # PostgreSQL with pgvector, so that knowledge's tests run (and fail, rather than skip,
  # if it is not found). nixpkgs' compiler wrapper drops pgvector's `-march=native`, so the
  # extension runs on any CPU of the platform.
  nativeCheckInputs = [
    (postgresql.withPackages (ps: [ ps.pgvector ]))
    skopeo
    jq
  ];
  preCheck = ''
    export HOME=$TMPDIR
    export MAIA_TEST_REQUIRE_SKOPEO=1
    export MAIA_TEST_REQUIRE_PGVECTOR=1
  '';
  cargoTestFlags = lib.optionals faultTests [
    "--test"
    "faults"
  ];

  meta = {
    description = cargoToml.package.description;
    homepage = cargoToml.package.repository;
    license = lib.licenses.agpl3Plus;
    mainProgram = "maia";
    platforms = lib.platforms.linux;
  };
}
