-- Foundation: extensions that the domain migrations build on (all ship with PostgreSQL's contrib
-- package, postgresql-15 on Debian, and are trusted extensions, so a database owner may create them).
--   pg_trgm   trigram indexes for fuzzy name search (q= filters)
--   unaccent  accent-insensitive search of Vietnamese names ("Nguyễn" ~ "nguyen")
--   ltree     materialized paths of the organization tree (subtree queries)
--   pgcrypto  gen_random_bytes / digest in SQL
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
