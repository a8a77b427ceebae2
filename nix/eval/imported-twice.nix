# A configuration that imports the module under both names (nixosModules.maia, as well as
# the .default the check adds) must see its options declared once.
{ lib, ... }:
let
  flake = (import ../../flake.nix).outputs {
    self = flake;
    nixpkgs = { inherit lib; };
  };
in
{
  imports = [ flake.nixosModules.maia ];
  services.maia.enable = true;
}
