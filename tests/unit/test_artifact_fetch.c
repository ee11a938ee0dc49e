/* test_artifact_fetch: `berthd artifact-fetch` (agent/artifact_fetch.c)
 * and its transfers (agent/transfer.c) against a small HTTP server on a
 * thread that answers the ways a non-AWS or misbehaving server might:
 * a body shorter than its size and Range ignored, 206s without bytes, a
 * listing with keys outside the prefix, 403 to unsigned requests. Each
 * fetch runs artifact_fetch_main in a forked child (it keeps its options
 * in statics), its stdout the answer. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "artifact_fetch.h"
#include "check.h"
#include "transfer.h"

static int server_fd, server_port;
static int requests;            /* answered so far (the server thread's) */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void reply(int fd, const char *status, const char *headers, const char *body,
                  int head) {
  char out[8192];
  int n = snprintf(out, sizeof out, "HTTP/1.1 %s\r\nConnection: close\r\n%s\r\n%s", status,
                   headers, head ? "" : body);
  if (write(fd, out, (size_t)n) < 0) { /* the client went: nothing to do */ }
}

/* One request, answered by its path; every connection is closed after it. */
static void answer(int fd) {
  char req[8192];
  size_t len = 0;
  while (len < sizeof req - 1) {
    ssize_t r = read(fd, req + len, sizeof req - 1 - len);
    if (r <= 0) return;
    len += (size_t)r;
    req[len] = '\0';
    if (strstr(req, "\r\n\r\n")) break;
  }
  pthread_mutex_lock(&mu);
  int nth = ++requests;
  pthread_mutex_unlock(&mu);
  int head = strncmp(req, "HEAD ", 5) == 0;
  char path[2048] = "";
  sscanf(req, "%*s %2047s", path);
  char hdr[512];
  if (nth > 20) {
    /* A loop that never ends (the bug): stop it so the check fails. */
    reply(fd, "404 Not Found", "Content-Length: 0\r\n", "", head);
  } else if (strcmp(path, "/short") == 0) {
    /* Ignores Range and sends 40 of the 100 bytes the caller expects. */
    reply(fd, "200 OK", "Content-Length: 40\r\nETag: \"s\"\r\n",
          "0123456789012345678901234567890123456789", head);
  } else if (strcmp(path, "/empty206") == 0) {
    reply(fd, "206 Partial Content", "Content-Length: 0\r\nContent-Range: bytes 0-0/100\r\n", "",
          head);
  } else if (strncmp(path, "/models?", 8) == 0) {
    /* A listing of folder/ that also holds keys of other prefixes. */
    const char *xml = "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>false</IsTruncated>"
                      "<Contents><Key>f</Key><ETag>\"1\"</ETag><Size>1</Size></Contents>"
                      "<Contents><Key>folder/a.bin</Key><ETag>\"2\"</ETag><Size>1</Size></Contents>"
                      "</ListBucketResult>";
    snprintf(hdr, sizeof hdr, "Content-Type: application/xml\r\nContent-Length: %zu\r\n",
             strlen(xml));
    reply(fd, "200 OK", hdr, xml, head);
  } else if (strncmp(path, "/private", 8) == 0) {
    const char *xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>"
                      "<Message>Access Denied</Message></Error>";
    snprintf(hdr, sizeof hdr, "Content-Type: application/xml\r\nContent-Length: %zu\r\n",
             strlen(xml));
    reply(fd, "403 Forbidden", hdr, xml, head);
  } else {
    reply(fd, "404 Not Found", "Content-Length: 0\r\n", "", head);
  }
}

static void *serve(void *arg) {
  (void)arg;
  for (;;) {
    int fd = accept(server_fd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    answer(fd);
    close(fd);
  }
}

static void start_server(void) {
  server_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_INT(bind(server_fd, (struct sockaddr *)&sa, sizeof sa), 0);
  CHECK_INT(listen(server_fd, 16), 0);
  socklen_t sl = sizeof sa;
  getsockname(server_fd, (struct sockaddr *)&sa, &sl);
  server_port = ntohs(sa.sin_port);
  pthread_t th;
  pthread_create(&th, NULL, serve, NULL);
  pthread_detach(th);
}

static int take_requests(void) {
  pthread_mutex_lock(&mu);
  int n = requests;
  requests = 0;
  pthread_mutex_unlock(&mu);
  return n;
}

/* A body shorter than the size given, from a server that ignores Range,
 * fails after max_attempts instead of asking until the deadline. */
static void test_short_body(void) {
  char url[128], file[] = "/tmp/test_artifact_fetch-XXXXXX";
  int fd = mkstemp(file);
  CHECK(fd >= 0);
  close(fd);
  transfer t = {.max_attempts = 3};
  CHECK_INT(transfer_init(&t), 0);
  take_requests();
  snprintf(url, sizeof url, "http://127.0.0.1:%d/short", server_port);
  transfer_info info = {0};
  CHECK_INT(transfer_get_file(&t, url, file, "\"s\"", 100, &info), -1);
  CHECK(strstr(t.error, "the server sent 40 of 100 bytes") != NULL);
  CHECK_INT(take_requests(), 3);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/empty206", server_port);
  CHECK_INT(transfer_get_file(&t, url, file, NULL, 100, &info), -1);
  CHECK(strstr(t.error, "the server sent 0 of 100 bytes") != NULL);
  CHECK_INT(take_requests(), 3);
  transfer_cleanup(&t);
  unlink(file);
}

/* Runs artifact-fetch with args (NULL-ended) in a child without AWS
 * credentials, S3 at the test server; its stdout into out. The status. */
static int run_fetch(char *out, size_t outsz, char **args) {
  int p[2];
  CHECK_INT(pipe(p), 0);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", server_port);
    setenv("AWS_ENDPOINT_URL_S3", ep, 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_CA_BUNDLE");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    int argc = 0;
    while (args[argc]) argc++;
    _exit(artifact_fetch_main(argc, args));
  }
  close(p[1]);
  size_t len = 0;
  ssize_t r;
  while (len < outsz - 1 && (r = read(p[0], out + len, outsz - 1 - len)) > 0) len += (size_t)r;
  out[len] = '\0';
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A fresh --work directory under root. */
static void fresh_work(const char *root, char *work, size_t n) {
  char cmd[400];
  snprintf(work, n, "%s/work", root);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s'", work, work);
  CHECK_INT(system(cmd), 0);
}

static void test_s3_answers(const char *root) {
  char work[256], cache[256], out[8192];
  snprintf(cache, sizeof cache, "%s/cache", root);
  mkdir(cache, 0755);

  /* A listing key outside the prefix: refused, naming key and prefix. */
  fresh_work(root, work, sizeof work);
  char *list[] = {"--url", "s3://models/folder", "--work", work, "--cache", cache, NULL};
  CHECK_INT(run_fetch(out, sizeof out, list), 1);
  CHECK(strstr(out, "error ListObjectsV2 on s3://models/folder/ returned the key 'f', which "
                    "does not start with the prefix 'folder/'") != NULL);

  /* 403 to unsigned requests says why they were unsigned. */
  const char *unsigned_why = "(requests were unsigned: AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY are not set and the shared credentials "
                             "file /nonexistent/credentials cannot be read)";
  fresh_work(root, work, sizeof work);
  char *object[] = {"--url", "s3://private/model.tar.gz", "--work", work, "--cache", cache, NULL};
  CHECK_INT(run_fetch(out, sizeof out, object), 1);
  CHECK(strstr(out, "answered 403: AccessDenied: Access Denied") != NULL);
  CHECK(strstr(out, unsigned_why) != NULL);
  fresh_work(root, work, sizeof work);
  char *prefix[] = {"--url", "s3://private/folder", "--work", work, "--cache", cache, NULL};
  CHECK_INT(run_fetch(out, sizeof out, prefix), 1);
  CHECK(strstr(out, "error cannot list ArtifactUrl s3://private/folder") != NULL);
  CHECK(strstr(out, unsigned_why) != NULL);
}

/* The answer names a directory with spaces whole (--shared-dir "/srv/My
 * Data"), and the agent's parser reads it back. */
static void test_ready_with_spaces(const char *root) {
  char work[256], dest[256], tar[256], url[300], cmd[1200], out[8192];
  snprintf(dest, sizeof dest, "%s/My Data/copy dest", root);
  snprintf(tar, sizeof tar, "%s/My Data/model.tar", root);
  snprintf(cmd, sizeof cmd, "mkdir -p '%s' && echo hello > '%s/../w.txt' && "
           "tar -cf '%s' -C '%s/..' w.txt", dest, dest, tar, dest);
  CHECK_INT(system(cmd), 0);
  snprintf(url, sizeof url, "file://%s", tar);
  fresh_work(root, work, sizeof work);
  char *args[] = {"--url", url, "--work", work, "--dest", dest, NULL};
  CHECK_INT(run_fetch(out, sizeof out, args), 0);
  out[strcspn(out, "\n")] = '\0';
  char dir[1300];
  unsigned long long bytes = 0;
  int cached = -1;
  CHECK_INT(artifact_fetch_parse_ready(out, dir, sizeof dir, &bytes, &cached), 0);
  CHECK_STR(dir, dest);
  CHECK_INT(bytes, 6);
  CHECK_INT(cached, 0);
  char file[400];
  snprintf(file, sizeof file, "%s/w.txt", dest);
  CHECK_INT(access(file, R_OK), 0);

  static const char *bad[] = {"ready /a 1 fetched", "ready 1 fetched", "ready 1 fetched rel",
                              "ready x fetched /a", "ready 1 new /a", "error ready 1 fetched /a"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK_INT(artifact_fetch_parse_ready(bad[i], dir, sizeof dir, &bytes, &cached), -1);
  CHECK_INT(artifact_fetch_parse_ready("ready 12 cached /x y/z", dir, sizeof dir, &bytes,
                                       &cached), 0);
  CHECK_STR(dir, "/x y/z");
  CHECK_INT(cached, 1);
}

int main(void) {
  start_server();
  test_short_body();
  char root[] = "/tmp/test_artifact_fetch-XXXXXX";
  CHECK(mkdtemp(root) != NULL);
  test_s3_answers(root);
  test_ready_with_spaces(root);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  CHECK_INT(system(cmd), 0);
  CHECK_DONE();
}
