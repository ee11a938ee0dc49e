/* controllers: see controllers.h. */
#include "controllers.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_one(controller_addr *a, const char *url, size_t len) {
  if (len == 0 || len >= sizeof a->url) return -1;
  memcpy(a->url, url, len);
  a->url[len] = '\0';
  a->https = strncmp(a->url, "https://", 8) == 0;
  if (!a->https && strncmp(a->url, "http://", 7) != 0) return -1;
  const char *p = a->url + (a->https ? 8 : 7);
  const char *colon = strrchr(p, ':');
  const char *slash = strchr(p, '/');
  if (!colon || colon == p || (slash && slash < colon)) return -1;
  size_t hl = (size_t)(colon - p);
  if (hl >= sizeof a->name) return -1;
  memcpy(a->name, p, hl);
  a->name[hl] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || (*end && *end != '/') || port < 1 || port > 65535) return -1;
  a->port = (int)port;
  /* Resolved once at start-up (blocking is fine before the loop runs). */
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(a->name, NULL, &hints, &res) != 0) return -1;
  inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, a->host, sizeof a->host);
  freeaddrinfo(res);
  return 0;
}

int controllers_parse(controllers *l, const char *urls, char *bad, size_t badsz) {
  memset(l, 0, sizeof *l);
  const char *p = urls;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (l->n == CONTROLLERS_MAX || parse_one(&l->v[l->n], p, len)) {
      snprintf(bad, badsz, "%.*s", (int)len, p);
      return -1;
    }
    l->n++;
    if (!comma) return 0;
    p = comma + 1;
  }
}

int controllers_https(const controllers *l) {
  for (int i = 0; i < l->n; i++)
    if (l->v[i].https) return 1;
  return 0;
}

const controller_addr *controllers_current(const controllers *l) {
  return &l->v[l->cur];
}

const controller_addr *controllers_next(controllers *l, const char *leader,
                                        int (*accept)(const controller_addr *a)) {
  for (int i = 0; leader && leader[0] && i < l->n; i++)
    if (strcmp(l->v[i].url, leader) == 0) {
      if (i == l->cur) break; /* it named itself: try the next */
      l->cur = i;
      return &l->v[i];
    }
  /* A leader not in the list (berthd up on each host names only its own
   * controller): learned, so the standby's redirect is followed. */
  if (leader && leader[0] && l->n < CONTROLLERS_MAX) {
    int known = 0;
    for (int i = 0; i < l->n; i++) known |= strcmp(l->v[i].url, leader) == 0;
    if (!known && parse_one(&l->v[l->n], leader, strlen(leader)) == 0 &&
        (!accept || accept(&l->v[l->n]))) {
      l->cur = l->n++;
      return &l->v[l->cur];
    }
  }
  if (l->n > 0) l->cur = (l->cur + 1) % l->n;
  return &l->v[l->cur];
}
