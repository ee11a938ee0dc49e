/* tls: TLS 1.2+ sessions over memory BIOs (OpenSSL), for the libuv HTTP
 * server and client.
 *
 * HOW TO WIRE IT
 *
 * A listener speaks TLS when its config names a server context:
 *
 *   berth_tls_server *tls = NULL;
 *   char err[256];
 *   if (berth_tls_server_new(cert_file, key_file, &tls, err, sizeof err) < 0)
 *     { fprintf(stderr, "berthd: %s\n", err); exit(1); }
 *   cfg.tls = tls;                 // NULL: plain HTTP, as before
 *   berth_http_server_listen(loop, host, port, &cfg, &srv);
 *
 * Reload (on SIGHUP, say): berth_tls_server_reload(tls, err, sizeof err)
 * reads the same two files again into a new OpenSSL context. Connections
 * accepted afterwards use the new certificate; open ones keep the context
 * they started with (OpenSSL refcounts it), so nothing is dropped. On an
 * error the old certificate stays in use and err says why. One server
 * context may serve several listeners; free it (berth_tls_server_free)
 * only after every listener using it has closed (on_closed).
 *
 * A client call speaks https when its options name a client context:
 *
 *   berth_tls_client *ca = NULL;
 *   berth_tls_client_new(ca_file, &ca, err, sizeof err); // ca_file NULL: system store
 *   opts.tls = ca;                 // opts.tls_name: name to verify (default opts.host)
 *   berth_http_request(cl, &opts, &cb, ud, &call);
 *   // on failure on_done gets UV_EPROTO; berth_http_call_error(call) says why
 *
 * The peer's certificate must chain to the CA file and name the host: an IP
 * address SAN for a numeric host, else the DNS name (also sent as SNI).
 * Pooled keep-alive connections keep their TLS session, and are only reused
 * for calls with the same client context and name. Contexts are used from
 * one loop thread; loading files blocks briefly (they are small).
 *
 * A session (berth_tls_conn) knows no sockets: the caller feeds it the
 * ciphertext it read, takes plaintext out, writes plaintext in and sends the
 * ciphertext it produces (berth_tls_out_take). Errors are negative errno codes
 * (-EPROTO for anything TLS refused or a file it could not use, -EINVAL
 * for bad arguments) with a short message beside them; no message ever
 * contains application bytes. */
#ifndef BERTH_TLS_H
#define BERTH_TLS_H

#include <errno.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct berth_tls_server berth_tls_server; /* private */
typedef struct berth_tls_client berth_tls_client; /* private */
typedef struct berth_tls_conn berth_tls_conn;     /* private */

/* The peer ended the session with close_notify (a clean end of stream). */
#define BERTH_TLS_CLOSED (-ESHUTDOWN)

/* ---- contexts ---- */

/* Loads cert_file (PEM: the leaf first, then intermediates) and key_file
 * (PEM private key matching the leaf). TLS 1.2 minimum, OpenSSL's default
 * ciphers, ALPN "http/1.1" when the client offers it. Returns 0 or a
 * negative errno code with err (may be NULL) naming the file and the
 * problem. The paths are copied. */
int berth_tls_server_new(const char *cert_file, const char *key_file, berth_tls_server **out,
                         char *err, size_t errlen);
/* Builds a new context from the same files; see the top of this file. */
int berth_tls_server_reload(berth_tls_server *s, char *err, size_t errlen);
/* How many times the certificate was loaded successfully (1 after new). */
unsigned berth_tls_server_generation(const berth_tls_server *s);
void berth_tls_server_free(berth_tls_server *s);

/* A context for calls that verify the server against ca_file (PEM, one or
 * more CA certificates), or the system's trust store when ca_file is NULL. */
int berth_tls_client_new(const char *ca_file, berth_tls_client **out, char *err, size_t errlen);
void berth_tls_client_free(berth_tls_client *c);

/* ---- sessions ---- */

/* A server-side session with the context current now. NULL only on
 * out-of-memory inside OpenSSL. */
berth_tls_conn *berth_tls_conn_server(berth_tls_server *s);
/* A client-side session that verifies the peer as name (numeric IPv4/IPv6
 * or a DNS name; copied). NULL when name is unusable (empty, too long). */
berth_tls_conn *berth_tls_conn_client(berth_tls_client *c, const char *name);
void berth_tls_conn_free(berth_tls_conn *t);

/* Ciphertext read from the peer. Always accepted; the caller bounds it by
 * not reading more while berth_tls_in_pending is large. */
void berth_tls_feed(berth_tls_conn *t, const void *data, size_t len);
/* Fed ciphertext not yet decrypted. */
size_t berth_tls_in_pending(const berth_tls_conn *t);
/* Advances the handshake: 1 done (also when it already was), 0 needs more
 * ciphertext from the peer, or a negative code (the session is dead). Send
 * berth_tls_out afterwards in every case: it may hold the next flight or
 * an alert. */
int berth_tls_handshake(berth_tls_conn *t);
int berth_tls_established(const berth_tls_conn *t);
/* Decrypts into buf: bytes (> 0), 0 when the fed ciphertext holds no more
 * complete record, BERTH_TLS_CLOSED, or another negative code. */
ssize_t berth_tls_read(berth_tls_conn *t, void *buf, size_t cap);
/* Encrypts all of data (once established): 0 or a negative code. */
int berth_tls_write(berth_tls_conn *t, const void *data, size_t len);
/* Queues close_notify once (later calls do nothing): 0 or negative. */
int berth_tls_close_notify(berth_tls_conn *t);
/* Ciphertext waiting to be sent, and taking it (up to cap bytes, in
 * order) into the caller's buffer: returns the bytes taken. */
size_t berth_tls_out_pending(const berth_tls_conn *t);
size_t berth_tls_out_take(berth_tls_conn *t, void *buf, size_t cap);
/* The last error's message ("" when none); "certificate verify failed:
 * self-signed certificate (peer 127.0.0.1)" and the like. Lives with t. */
const char *berth_tls_error(const berth_tls_conn *t);
/* The negotiated protocol version name ("TLSv1.3"), for logs and tests. */
const char *berth_tls_version(const berth_tls_conn *t);

#endif
