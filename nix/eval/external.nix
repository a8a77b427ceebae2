# An external database with its password as a systemd credential, and an external Ollama.
{
  services.maia = {
    enable = true;
    database.createLocally = false;
    settings.database.url = "postgresql://maia@db.lan:5432/maia?sslmode=require";
    credentials.database_password = "/run/secrets/maia-db-password";
    ollama.enable = false;
    ollama.url = "http://gpu-box.lan:11434";
    settings.sovereignty.allow_hosts = [
      "db.lan"
      "gpu-box.lan"
    ];
    settings.http.listen = "0.0.0.0:8080";
    openFirewall = true;
  };
}
