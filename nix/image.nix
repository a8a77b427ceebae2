# The container image: the static maia, CA certificates and a non-root user, nothing else
# (no shell, no curl). Built with the *native* dockerTools (a docker-archive, so
# `docker load < result` works) around a binary from a cross package set; `architecture`
# names the binary's platform, not the builder's.
{
  lib,
  dockerTools,
  # The static maia for the image's platform (./static.nix).
  maia,
  # The package set that built it (pkgsCross.musl64.pkgsStatic, ...).
  imagePkgs,
  # The flake's git revision when it has one (a clean tree), for the OCI label.
  revision ? null,
}:
let
  cargoToml = lib.importTOML ../Cargo.toml;
  inherit (cargoToml.package) version;
  exe = "${maia}/bin/maia";
  seconds = s: s * 1000000000; # Docker's Healthcheck durations are nanoseconds.
in
dockerTools.buildLayeredImage {
  name = "maia";
  tag = version;
  # GOARCH spelling ("amd64", "arm64"), as the OCI image spec asks, for the binary's
  # platform. nixpkgs' platforms carry it (lib/systems/default.nix); the `go` package's
  # passthru `GOARCH` is the older place (go 1.26 moved it into `env`), kept as fallback.
  architecture = imagePkgs.stdenv.hostPlatform.go.GOARCH or imagePkgs.go.GOARCH;
  # created and mtime keep dockerTools' fixed default (1970-01-01T00:00:01Z): the same
  # inputs give the same image digest.

  contents = [
    dockerTools.caCertificates
    (dockerTools.fakeNss.override {
      extraPasswdLines = [ "maia:x:1000:1000:maia:/var/empty:/bin/false" ];
      extraGroupLines = [ "maia:x:1000:" ];
    })
  ];

  config = {
    Entrypoint = [ exe ];
    Cmd = [ "serve" ];
    User = "1000:1000";
    WorkingDir = "/var/empty";
    ExposedPorts = {
      "8080/tcp" = { };
    };
    Env = [
      "MAIA_HTTP__LISTEN=0.0.0.0:8080"
      "MAIA_LOG__FORMAT=json"
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
    ];
    # `maia healthcheck` asks this container's own port; exit 0 iff healthy or degraded.
    Healthcheck = {
      Test = [
        "CMD"
        exe
        "healthcheck"
      ];
      Interval = seconds 30;
      Timeout = seconds 5;
      StartPeriod = seconds 15;
      Retries = 3;
    };
    Labels = {
      "org.opencontainers.image.title" = "maia";
      "org.opencontainers.image.description" = cargoToml.package.description;
      "org.opencontainers.image.version" = version;
      "org.opencontainers.image.source" = cargoToml.package.repository;
      "org.opencontainers.image.licenses" = cargoToml.package.license;
    }
    // lib.optionalAttrs (revision != null) {
      "org.opencontainers.image.revision" = revision;
    };
  };
}
