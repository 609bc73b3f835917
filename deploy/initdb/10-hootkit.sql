-- Run once by the postgres image, on an empty data volume, as the superuser in POSTGRES_DB (hootkit).
-- Hootkit gets a role of its own, not a superuser; its password comes from HOOTKIT_DB_PASSWORD (unset: this fails).
\getenv hootkit_password HOOTKIT_DB_PASSWORD
CREATE ROLE hootkit LOGIN PASSWORD :'hootkit_password';
-- its migrations create the tables in the public schema
GRANT CREATE ON SCHEMA public TO hootkit;
-- README "Several servers sharing one PostgreSQL store": no other role may connect (and hear LISTEN/NOTIFY)
REVOKE CONNECT, TEMPORARY ON DATABASE hootkit FROM PUBLIC;
GRANT CONNECT ON DATABASE hootkit TO hootkit;
