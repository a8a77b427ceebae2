# Both images under one multi-platform OCI index, as an oci-archive for
# `skopeo copy --all oci-archive:result docker://REGISTRY/maia:TAG`. The assembly is
# oci/make-index (tested by tests/oci_index.rs); Nix only calls it.
{
  lib,
  runCommand,
  jq,
  images,
}:
let
  inherit ((lib.importTOML ../Cargo.toml).package) version;
  args = map (i: "${i.image}:${i.arch}") images;
in
runCommand "maia-${version}-oci-index.tar"
  { nativeBuildInputs = [ jq ]; }
  ''
    bash ${../oci/make-index} "$out" ${lib.escapeShellArgs args}
  ''
