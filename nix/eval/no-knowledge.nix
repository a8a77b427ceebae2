# Knowledge turned off: no pgvector in the local PostgreSQL, no embedding model pulled.
{
  services.maia.enable = true;
  services.maia.knowledge.enable = false;
}
