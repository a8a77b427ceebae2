# The container image: the static maia, CA certificates and a non-root user, nothing else
# (no shell, no curl). Built with the builder's own dockerTools (a docker-archive, so
# `docker load < result` works) around a static binary of `architecture`, whichever
# system built it.
#
# The image config (entrypoint, user, env, ports, health check, labels) is
# oci/image-config.json, read as it is: oci/smoke builds the same image without Nix from
# the same file and runs it in podman. `maia` in `contents` puts /bin/maia into the image
# (a link into its store path), which is what the config's Entrypoint names.
{
  lib,
  dockerTools,
  # The static maia for the image's platform (./static.nix).
  maia,
  # GOARCH spelling ("amd64", "arm64"), as the OCI image spec asks: the binary's
  # platform, not the builder's.
  architecture,
}:
dockerTools.buildLayeredImage {
  name = "maia";
  tag = (lib.importTOML ../Cargo.toml).package.version;
  inherit architecture;
  # created and mtime keep dockerTools' fixed default (1970-01-01T00:00:01Z), and no label
  # names the git revision: the digest depends on the binary and this config alone, so
  # the same source gives the same image on any machine and at any commit.

  contents = [
    maia
    dockerTools.caCertificates
    (dockerTools.fakeNss.override {
      extraPasswdLines = [ "maia:x:1000:1000:maia:/var/empty:/bin/false" ];
      extraGroupLines = [ "maia:x:1000:" ];
    })
  ];

  config = lib.importJSON ../oci/image-config.json;
}
