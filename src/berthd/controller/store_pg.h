/* store_pg: what the PostgreSQL engine shares with the lease (leader.c),
 * which keeps a connection of its own. */
#ifndef BERTHD_STORE_PG_H
#define BERTHD_STORE_PG_H

#include <libpq-fe.h>
#include <stddef.h>

/* A connection, or NULL with the reason in err (the password redacted). */
PGconn *store_pg_connect(const char *conninfo, char *err, size_t errsz);
/* Runs sql: 0, or -EIO. */
int store_pg_exec(PGconn *conn, const char *sql);
/* conninfo with any password replaced by ***, for messages. */
void store_pg_redact(const char *conninfo, char *out, size_t outsz);

#endif
