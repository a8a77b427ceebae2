# `nix flake check`: the package (with its test suite), clippy with -D warnings, and every
# NixOS VM test in nix/tests/, found by name: adding a file adds a check.
{ pkgs, self }:
let
  inherit (pkgs) lib;
  packages = self.packages.${pkgs.stdenv.hostPlatform.system};

  clippy = packages.maia.overrideAttrs (old: {
    pname = "maia-clippy";
    nativeBuildInputs = old.nativeBuildInputs or [ ] ++ [ pkgs.clippy ];
    doCheck = false;
    buildPhase = ''
      runHook preBuild
      cargo clippy --frozen --all-targets -- -D warnings
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
}
// vmTests
