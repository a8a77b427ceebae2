# `nix flake check`: the package (with its test suite), the fault tests, clippy, and every
# NixOS VM test in nix/tests/, found by name: adding a file adds a check.
{ pkgs, self }:
let
  inherit (pkgs) lib;
  packages = self.packages.${pkgs.stdenv.hostPlatform.system};

  # nixpkgs' clippy is not the toolchain CI pins (.ci/run runs clippy with -D warnings):
  # a newer clippy brings new warn-level lints, which must not fail `nix flake check`.
  # Here only what clippy itself denies (the correctness group) and compile errors fail.
  clippy = packages.maia.overrideAttrs (old: {
    pname = "maia-clippy";
    nativeBuildInputs = old.nativeBuildInputs or [ ] ++ [ pkgs.clippy ];
    doCheck = false;
    buildPhase = ''
      runHook preBuild
      cargo clippy --frozen --all-targets
      runHook postBuild
    '';
    installPhase = ''
      runHook preInstall
      touch $out
      runHook postInstall
    '';
  });

  testDir = ./tests;
  testFiles = lib.filterAttrs (name: type: type == "regular" && lib.hasSuffix ".nix" name) (
    if builtins.pathExists testDir then builtins.readDir testDir else { }
  );
  vmTests = lib.mapAttrs' (
    name: _:
    lib.nameValuePair "vm-${lib.removeSuffix ".nix" name}" (
      import (testDir + "/${name}") { inherit pkgs self; }
    )
  ) testFiles;
in
{
  inherit (packages) maia;
  inherit clippy;
  # The timing-sensitive fault tests (PostgreSQL restarts, Ollama failures, SIGTERM, fuzzing)
  # as a check of their own, outside the package build (./package.nix).
  faults = pkgs.callPackage ./package.nix { faultTests = true; };
}
// vmTests
