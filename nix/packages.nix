# Every package of the flake for one builder system. `<arch>` is amd64 or arm64; the
# builder's own one is "native", the other one "other". See ./static.nix for which
# package set builds which binary, and why.
{ pkgs, self }:
let
  static = import ./static.nix { inherit pkgs self; };
  inherit (static) nativeArch otherArch;
  maia = pkgs.callPackage ./package.nix { };
  # Always the builder's own dockerTools around the static binary of `architecture`.
  imageOf =
    architecture: staticMaia:
    pkgs.callPackage ./image.nix {
      inherit architecture;
      maia = staticMaia;
    };
  images = {
    ${nativeArch} = imageOf nativeArch static.native;
    ${otherArch} = imageOf otherArch (static.fromItsSystem otherArch);
  };
in
{
  default = maia;
  inherit maia;

  "maia-static-${nativeArch}" = static.native;
  "maia-static-${otherArch}" = static.fromItsSystem otherArch;
  "maia-static-${otherArch}-cross" = static.cross otherArch;

  image = images.${nativeArch};
  image-amd64 = images.amd64;
  image-arm64 = images.arm64;
  "image-${otherArch}-cross" = imageOf otherArch (static.cross otherArch);

  # Both images under one multi-platform OCI index.
  image-index = pkgs.callPackage ./image-index.nix {
    images = [
      {
        image = images.amd64;
        arch = "amd64";
      }
      {
        image = images.arm64;
        arch = "arm64";
      }
    ];
  };
}
