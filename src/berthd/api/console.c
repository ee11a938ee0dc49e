/* console: the web console's files, sign-in and sessions (console.h).
 *
 * DESIGN. A session is a random 32-byte token the browser holds in a
 * cookie and we hold in a fixed table (CONSOLE_MAX_SESSIONS) with the name
 * and id of the key that signed in and an expiry. The key itself is looked
 * up again on every request, so a deleted key ends its sessions at once and
 * a changed permission applies at once. Cookies alone would let another
 * site's page make the browser send them, so a request is the console's
 * only with the X-Berth-Console header too, which a cross-site form cannot
 * set and a cross-site fetch cannot set without a CORS preflight we never
 * answer; SameSite=Strict keeps the cookie off cross-site requests
 * besides. */
#include "console.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/log.h"
#include "berth/secret.h"
#include "console_files.h"

#define COOKIE_NAME "berth_console"
#define TOKEN_BYTES 32

typedef struct console_session {
  unsigned char token[TOKEN_BYTES];
  char key_name[65];
  char key_id[33];
  double expires;               /* ctl_clock; 0: the slot is free */
} console_session;

struct console_sessions {
  console_session s[CONSOLE_MAX_SESSIONS];
};

/* No inline script or style, nothing from elsewhere, no framing. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                          "base-uri 'none'; frame-ancestors 'none'";

static struct console_sessions *sessions_of(ctl *c) {
  if (!c->console) {
    c->console = calloc(1, sizeof *c->console);
    if (!c->console) abort();
  }
  return c->console;
}

static const char *content_type_of(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return "application/octet-stream";
  if (strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
  if (strcmp(dot, ".js") == 0) return "text/javascript; charset=utf-8";
  if (strcmp(dot, ".css") == 0) return "text/css; charset=utf-8";
  if (strcmp(dot, ".svg") == 0) return "image/svg+xml";
  if (strcmp(dot, ".png") == 0) return "image/png";
  return "application/octet-stream";
}

static const console_file *file_named(const char *name) {
  for (const console_file *f = console_files; f->name; f++)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

/* Every console answer carries these: the page may run only its own files,
 * and a browser must not guess other types than the ones we name. */
static void respond(berth_http_req *req, int status, const char *type, const char *cache,
                    const char *set_cookie, const char *location, const void *body,
                    size_t len) {
  berth_http_header h[9] = {
    {"content-type", type},
    {"content-security-policy", csp},
    {"x-content-type-options", "nosniff"},
    {"x-frame-options", "DENY"},
    {"referrer-policy", "no-referrer"},
    {"cache-control", cache},
  };
  size_t n = 6;
  if (set_cookie) h[n++] = (berth_http_header){"set-cookie", set_cookie};
  if (location) h[n++] = (berth_http_header){"location", location};
  berth_http_respond(req, status, h, n, body, len);
}

static void respond_message(berth_http_req *req, int status, const char *type,
                            const char *message, const char *set_cookie) {
  json_t *o = json_pack("{s:s,s:s}", "__type", type, "message", message);
  char *text = json_dumps(o, JSON_COMPACT);
  respond(req, status, "application/json", "no-store", set_cookie, NULL, text, strlen(text));
  free(text);
  json_decref(o);
}

static int is_loopback(const char *peer) {
  return strncmp(peer, "127.", 4) == 0 || strncmp(peer, "[::1]", 5) == 0 ||
         strncmp(peer, "[::ffff:127.", 12) == 0;
}

static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

/* The session token in req's Cookie header: 0 with token filled, or -1. */
static int cookie_token(const berth_http_req *req, unsigned char token[TOKEN_BYTES]) {
  const char *cookies = berth_http_req_header(req, "cookie");
  if (!cookies) return -1;
  const char *p = cookies;
  while ((p = strstr(p, COOKIE_NAME "=")) != NULL) {
    if (p == cookies || p[-1] == ' ' || p[-1] == ';') break;
    p += sizeof COOKIE_NAME;
  }
  if (!p) return -1;
  p += sizeof COOKIE_NAME; /* the name and '=' */
  for (int i = 0; i < TOKEN_BYTES; i++) {
    int hi = hex_value(p[2 * i]), lo = hi < 0 ? -1 : hex_value(p[2 * i + 1]);
    if (lo < 0) return -1;
    token[i] = (unsigned char)(hi << 4 | lo);
  }
  char end = p[2 * TOKEN_BYTES];
  return end == '\0' || end == ';' || end == ' ' ? 0 : -1;
}

/* The live session whose token req's cookie holds, or NULL. Expired ones
 * are freed on the way. */
static console_session *session_of(ctl *c, const berth_http_req *req) {
  unsigned char token[TOKEN_BYTES];
  if (!c->console || cookie_token(req, token)) return NULL;
  double now = ctl_clock();
  console_session *found = NULL;
  for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
    console_session *s = &c->console->s[i];
    if (!s->expires) continue;
    if (s->expires <= now) {
      berth_secret_wipe(s, sizeof *s);
      continue;
    }
    if (!found && CRYPTO_memcmp(s->token, token, TOKEN_BYTES) == 0) found = s;
  }
  berth_secret_wipe(token, sizeof token);
  return found;
}

/* The key a session speaks for, if it still exists with the same id. */
static const auth_key *session_key(ctl *c, const console_session *s) {
  const auth_key *k = auth_find_name(c, s->key_name);
  return k && strcmp(k->id, s->key_id) == 0 ? k : NULL;
}

int console_auth(ctl *c, const berth_http_req *req, const auth_key **who, api_error *e) {
  const char *mark = berth_http_req_header(req, "x-berth-console");
  if (!mark || c->auth_off) return 1;
  console_session *s = session_of(c, req);
  const auth_key *k = s ? session_key(c, s) : NULL;
  if (!k) {
    api_fail(e, 403, "ExpiredTokenException", "the console session is missing, expired or "
             "signed out, or its access key was deleted: sign in again at /console/");
    return -1;
  }
  *who = k;
  return 0;
}

/* The slot for a new session: a free one, else the one nearest expiry. */
static console_session *new_slot(ctl *c) {
  struct console_sessions *all = sessions_of(c);
  console_session *oldest = &all->s[0];
  for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
    if (!all->s[i].expires || all->s[i].expires <= ctl_clock()) return &all->s[i];
    if (all->s[i].expires < oldest->expires) oldest = &all->s[i];
  }
  return oldest;
}

static void sign_in(ctl *c, berth_http_req *req) {
  if (!c->control_tls && !is_loopback(req->peer)) {
    /* The secret and the cookie would cross the network in clear text. */
    respond_message(req, 403, "AccessDeniedException", "the console signs in only over TLS "
                    "(--tls-cert/--tls-key) or from a loopback address: this control port "
                    "serves plain HTTP", NULL);
    return;
  }
  if (!berth_http_req_header(req, "x-berth-console")) {
    respond_message(req, 400, "ValidationException", "sign in from the console's page (the "
                    "X-Berth-Console header is missing)", NULL);
    return;
  }
  json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
  const char *id = json_string_value(json_object_get(body, "AccessKeyId"));
  const char *secret = json_string_value(json_object_get(body, "SecretAccessKey"));
  if (!id || !secret || !id[0] || !secret[0]) {
    json_decref(body);
    respond_message(req, 400, "ValidationException", "give AccessKeyId and SecretAccessKey "
                    "(strings) in a JSON body", NULL);
    return;
  }
  const auth_key *k = auth_basic(c, id, secret);
  json_decref(body); /* the secret's copy goes with it */
  if (!k && !c->auth_off) {
    berth_log(BERTH_LOG_INFO, "console: refused a sign-in from %s (unknown key id or wrong "
              "secret)", req->peer);
    respond_message(req, 403, "InvalidClientTokenId", "the access key id or secret is not one "
                    "of this Berth's keys", NULL);
    return;
  }
  console_session *s = new_slot(c);
  berth_secret_wipe(s, sizeof *s);
  if (RAND_bytes(s->token, TOKEN_BYTES) != 1) {
    respond_message(req, 500, "InternalFailure", "no random bytes for a session token", NULL);
    return;
  }
  snprintf(s->key_name, sizeof s->key_name, "%s", k ? k->name : "admin");
  snprintf(s->key_id, sizeof s->key_id, "%s", k ? k->id : "");
  s->expires = ctl_clock() + CONSOLE_SESSION_S;
  char cookie[2 * TOKEN_BYTES + 128];
  int n = snprintf(cookie, sizeof cookie, COOKIE_NAME "=");
  for (int i = 0; i < TOKEN_BYTES; i++)
    n += snprintf(cookie + n, sizeof cookie - (size_t)n, "%02x", s->token[i]);
  snprintf(cookie + n, sizeof cookie - (size_t)n, "; Path=/; Max-Age=%d; HttpOnly; "
           "SameSite=Strict%s", CONSOLE_SESSION_S, c->control_tls ? "; Secure" : "");
  berth_log(BERTH_LOG_INFO, "console: key %s signed in from %s", s->key_name, req->peer);
  json_t *o = json_pack("{s:s,s:s}", "KeyName", s->key_name, "AccessKeyId", s->key_id);
  char *text = json_dumps(o, JSON_COMPACT);
  respond(req, 200, "application/json", "no-store", cookie, NULL, text, strlen(text));
  free(text);
  json_decref(o);
  berth_secret_wipe(cookie, sizeof cookie);
}

static void sign_out(ctl *c, berth_http_req *req) {
  console_session *s = session_of(c, req);
  if (s) {
    berth_log(BERTH_LOG_INFO, "console: key %s signed out", s->key_name);
    berth_secret_wipe(s, sizeof *s);
  }
  static const char gone[] = COOKIE_NAME "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict";
  respond(req, 200, "application/json", "no-store", gone, NULL, "{}", 2);
}

/* GET /console/session: who is signed in, so a reloaded page skips the
 * sign-in form. */
static void whoami(ctl *c, berth_http_req *req) {
  console_session *s = session_of(c, req);
  const auth_key *k = s ? session_key(c, s) : NULL;
  if (!k && !c->auth_off) {
    respond_message(req, 403, "ExpiredTokenException", "not signed in", NULL);
    return;
  }
  json_t *o = json_pack("{s:s,s:b}", "KeyName", k ? k->name : "admin", "AuthOff",
                        c->auth_off);
  char *text = json_dumps(o, JSON_COMPACT);
  respond(req, 200, "application/json", "no-store", NULL, NULL, text, strlen(text));
  free(text);
  json_decref(o);
}

int console_serve(ctl *c, berth_http_req *req) {
  if (strncmp(req->path, "/console", 8) != 0 || (req->path[8] && req->path[8] != '/'))
    return 0;
  const char *rest = req->path[8] ? req->path + 9 : NULL;
  int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
  int post = strcmp(req->method, "POST") == 0;
  if (!rest && get) {
    respond(req, 301, "text/plain", "no-store", NULL, "/console/", "/console/\n", 10);
  } else if (rest && post && strcmp(rest, "signin") == 0) {
    sign_in(c, req);
  } else if (rest && post && strcmp(rest, "signout") == 0) {
    sign_out(c, req);
  } else if (rest && get && strcmp(rest, "session") == 0) {
    whoami(c, req);
  } else if (rest && get) {
    const console_file *f = file_named(rest[0] ? rest : "index.html");
    if (!f) {
      respond_message(req, 404, "ResourceNotFound", "no such console file", NULL);
    } else {
      /* The page is never cached, so a new berthd's page meets its own
       * script; scripts and styles are revalidated each time too (they are
       * small, and a stale one against a new API is worse). */
      int html = strstr(f->name, ".html") != NULL;
      respond(req, 200, content_type_of(f->name), html ? "no-store" : "no-cache", NULL, NULL,
              f->data, f->len);
    }
  } else {
    respond_message(req, 405, "MethodNotAllowed", "the console answers GET on its files and "
                    "POST on /console/signin and /console/signout", NULL);
  }
  return 1;
}

void console_free(ctl *c) {
  if (!c->console) return;
  berth_secret_wipe(c->console, sizeof *c->console);
  free(c->console);
  c->console = NULL;
}
