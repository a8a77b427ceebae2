{
  description = "maia: a sovereign, self-hosted AI query service (local Ollama + PostgreSQL)";

  # One input, pinned by hand in flake.lock (see nix/README.md).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      eachSystem = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = eachSystem (pkgs: import ./nix/packages.nix { inherit pkgs self; });
      apps = eachSystem (pkgs: import ./nix/apps.nix { inherit pkgs self; });
      devShells = eachSystem (pkgs: {
        default = pkgs.callPackage ./nix/devshell.nix { };
      });
      checks = eachSystem (pkgs: import ./nix/checks.nix { inherit pkgs self; });
      formatter = eachSystem (pkgs: pkgs.nixfmt-tree);

      overlays.default = final: _prev: {
        maia = final.callPackage ./nix/package.nix { };
      };

      # importApply gives the module its file for error messages; the key makes NixOS
      # take it once even when a configuration imports both names.
      nixosModules.maia = lib.modules.importApply ./nix/module { inherit self; } // {
        key = "maia#nixosModules.maia";
      };
      nixosModules.default = self.nixosModules.maia;
    };
}
