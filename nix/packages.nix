# Every package of the flake for one builder system.
{ pkgs, self }:
let
  maia = pkgs.callPackage ./package.nix { };
  static = import ./static.nix { inherit pkgs; };
  # Always the builder's own dockerTools around the cross-built binary.
  imageFor =
    arch:
    pkgs.callPackage ./image.nix {
      inherit (static.${arch}) maia;
      imagePkgs = static.${arch}.pkgs;
      revision = self.rev or null;
    };
  image-amd64 = imageFor "amd64";
  image-arm64 = imageFor "arm64";
in
{
  default = maia;
  inherit maia image-amd64 image-arm64;
  maia-static-amd64 = static.amd64.maia;
  maia-static-arm64 = static.arm64.maia;
  # The image for the builder's own architecture.
  image = if pkgs.stdenv.hostPlatform.isAarch64 then image-arm64 else image-amd64;
  image-index = pkgs.callPackage ./image-index.nix {
    images = [
      {
        image = image-amd64;
        arch = "amd64";
      }
      {
        image = image-arm64;
        arch = "arm64";
      }
    ];
  };
}
