# Static (musl) maia for amd64 and arm64, the binaries the images carry.
#
# Each architecture is built by its own system's `pkgsStatic`: native musl, whose stdenv
# and Rust toolchain nixpkgs' Hydra builds, so they come from the binary cache and a first
# build takes minutes. The other architecture's binary is that system's own output
# (`self.packages.<other system>.maia-static-<arch>`): Nix hands it to a remote builder or
# to binfmt emulation, and says which system it needs when neither is set up.
#
# The cross sets (`pkgsCross.*.pkgsStatic`) build on any Linux builder without either,
# but their static cross GCC is in no binary cache: the first build compiles it (about an
# hour). They are the explicitly named `*-cross` outputs only. See nix/README.md.
{ pkgs, self }:
let
  nativeArch = if pkgs.stdenv.hostPlatform.isAarch64 then "arm64" else "amd64";
  systemOf = {
    amd64 = "x86_64-linux";
    arm64 = "aarch64-linux";
  };
  crossSet = {
    amd64 = pkgs.pkgsCross.musl64.pkgsStatic;
    arm64 = pkgs.pkgsCross.aarch64-multiplatform.pkgsStatic;
  };
in
{
  inherit nativeArch;
  otherArch = if nativeArch == "amd64" then "arm64" else "amd64";

  # This builder's own architecture.
  native = pkgs.pkgsStatic.callPackage ./package.nix { };

  # Any architecture, from the system that builds it natively.
  fromItsSystem = arch: self.packages.${systemOf.${arch}}."maia-static-${arch}";

  # Any architecture, cross-compiled on this builder (slow the first time: see above).
  cross = arch: crossSet.${arch}.callPackage ./package.nix { };
}
