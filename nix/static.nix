# Static (musl) maia for amd64 and arm64 from any Linux builder: the same package file in
# two cross package sets (an x86_64 builder cross-compiles arm64 and the reverse). Tests
# run only where the builder can execute the result (doCheck in ./package.nix).
{ pkgs }:
let
  forSet = set: {
    pkgs = set;
    maia = set.callPackage ./package.nix { };
  };
in
{
  amd64 = forSet pkgs.pkgsCross.musl64.pkgsStatic;
  arm64 = forSet pkgs.pkgsCross.aarch64-multiplatform.pkgsStatic;
}
