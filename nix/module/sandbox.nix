# The systemd sandbox of maia's units in systemd mode (serviceConfig keys): what the service
# may see and do. Who it runs as and which secrets it gets are systemd.nix's.
# privilegedPort: maia listens below 1024, which needs CAP_NET_BIND_SERVICE in the host's
# user namespace (so no PrivateUsers).
{ privilegedPort }:
{
  AmbientCapabilities = if privilegedPort then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
  CapabilityBoundingSet = if privilegedPort then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
  DevicePolicy = "closed";
  LockPersonality = true;
  MemoryDenyWriteExecute = true;
  NoNewPrivileges = true;
  PrivateDevices = true;
  PrivateMounts = true;
  PrivateTmp = true;
  PrivateUsers = !privilegedPort;
  ProcSubset = "pid";
  ProtectClock = true;
  ProtectControlGroups = true;
  ProtectHome = true;
  ProtectHostname = true;
  ProtectKernelLogs = true;
  ProtectKernelModules = true;
  ProtectKernelTunables = true;
  ProtectProc = "invisible";
  ProtectSystem = "strict";
  RemoveIPC = true;
  RestrictAddressFamilies = [
    "AF_INET"
    "AF_INET6"
    "AF_UNIX"
  ];
  RestrictNamespaces = true;
  RestrictRealtime = true;
  RestrictSUIDSGID = true;
  SystemCallArchitectures = "native";
  SystemCallFilter = [
    "@system-service"
    "~@privileged"
  ];
  UMask = "0077";
}
