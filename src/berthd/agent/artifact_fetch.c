/* artifact_fetch: see artifact_fetch.h.
 *
 * DESIGN: the version is learnt before anything is downloaded (a HEAD for
 * an object or URL, one ListObjectsV2 for a prefix), so a second copy of an
 * unchanged artifact costs that one request and no GET. A server that
 * refuses HEAD is downloaded first and the version taken from the GET. An
 * archive is downloaded whole into --work (ranged, resumable) and then
 * unpacked, so a broken connection never leaves a half-unpacked tree. The
 * result appears in the cache by one rename, after its KEY.json (URL,
 * version, bytes: what the agent's size accounting reads at start). */
#include "artifact_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/aws_credentials.h"
#include "berth/buf.h"
#include "s3.h"
#include "transfer.h"
#include "unpack.h"

typedef enum { SRC_LOCAL, SRC_HTTP, SRC_S3_OBJECT, SRC_S3_PREFIX } source_kind;

static struct {
  const char *url, *work, *cache, *dest, *ca_file;
  int readable;
} opt;

static transfer xfer;
static char unsigned_why[1400]; /* why S3 requests go unsigned ("" when signed) */
static uint64_t base_done, grand_total; /* across the objects of a prefix */
static struct timespec last_progress;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  char why[3000];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  for (char *p = why; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  printf("error %s\n", why);
  fflush(stdout);
  return 1;
}

/* The answer. The directory goes last and is the rest of the line, so a
 * path with spaces (--shared-dir "/srv/My Data") arrives whole. */
static void ready(const char *dir, unsigned long long bytes, const char *how) {
  printf("ready %llu %s %s\n", bytes, how, dir);
  fflush(stdout);
}

int artifact_fetch_parse_ready(const char *line, char *dir, size_t dirsz,
                               unsigned long long *bytes, int *cached) {
  if (strncmp(line, "ready ", 6) != 0) return -1;
  const char *p = line + 6;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(p, &end, 10);
  if (end == p || errno || *end != ' ') return -1;
  p = end + 1;
  int from_cache;
  if (strncmp(p, "fetched ", 8) == 0) from_cache = 0;
  else if (strncmp(p, "cached ", 7) == 0) from_cache = 1;
  else return -1;
  p += from_cache ? 7 : 8;
  if (p[0] != '/' || strlen(p) >= dirsz || strchr(p, '\n')) return -1;
  snprintf(dir, dirsz, "%s", p);
  *bytes = n;
  *cached = from_cache;
  return 0;
}

static void on_progress(transfer *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long ms = (now.tv_sec - last_progress.tv_sec) * 1000 + (now.tv_nsec - last_progress.tv_nsec) / 1000000;
  if (ms < 500) return;
  last_progress = now;
  printf("progress %llu %llu\n", (unsigned long long)(base_done + t->done),
         (unsigned long long)grand_total);
  fflush(stdout);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_archive(const char *path) {
  return ends_with(path, ".tar.gz") || ends_with(path, ".tgz") || ends_with(path, ".tar");
}

/* mkdir -p of path's parent directories, below root. */
static int make_parents(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(path, 0755);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return -1;
  }
  return 0;
}

static void key_of(const char *url, const char *version, char out[33]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  EVP_DigestUpdate(ctx, url, strlen(url));
  EVP_DigestUpdate(ctx, "\n", 1);
  EVP_DigestUpdate(ctx, version, strlen(version));
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

unsigned long long artifact_recorded_bytes(const char *json_path) {
  FILE *f = fopen(json_path, "re");
  if (!f) return 0;
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *b = strstr(buf, "\"bytes\":");
  return b ? strtoull(b + 8, NULL, 10) : 0;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

/* Moves WORK/model to its place. */
static int finish(const char *model, const char *key, const char *version, uint64_t bytes) {
  char dir[1200], json[1300];
  if (opt.dest) {
    if (rename(model, opt.dest) != 0)
      return fail("cannot move the artifact into %s: %s", opt.dest, strerror(errno));
    ready(opt.dest, bytes, "fetched");
    return 0;
  }
  snprintf(dir, sizeof dir, "%s/%s", opt.cache, key);
  snprintf(json, sizeof json, "%s/%s.json", opt.cache, key);
  FILE *f = fopen(json, "we");
  if (f) {
    fputs("{\"url\":", f);
    json_string(f, opt.url);
    fputs(",\"version\":", f);
    json_string(f, version);
    fprintf(f, ",\"bytes\":%llu}\n", (unsigned long long)bytes);
    fclose(f);
  }
  if (rename(model, dir) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) {
      ready(dir, bytes, "cached"); /* a racing fetch won */
      return 0;
    }
    return fail("cannot move the artifact into the cache at %s: %s", dir, strerror(errno));
  }
  ready(dir, bytes, "fetched");
  return 0;
}

/* CACHE/KEY when it exists: printed, 1. */
static int cached(const char *key) {
  if (!opt.cache) return 0;
  char dir[1200], json[1300];
  snprintf(dir, sizeof dir, "%s/%s", opt.cache, key);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  snprintf(json, sizeof json, "%s/%s.json", opt.cache, key);
  ready(dir, artifact_recorded_bytes(json), "cached");
  return 1;
}

/* The archive at path unpacked into model, then finished. */
static int unpack_and_finish(const char *archive, const char *model, const char *key,
                             const char *version) {
  char why[2400];
  uint64_t bytes = 0;
  if (unpack_archive(archive, model, opt.readable, &bytes, why, sizeof why))
    return fail("unpacking %s: %s", opt.url, why);
  if (archive[0] && strncmp(archive, opt.work, strlen(opt.work)) == 0) unlink(archive);
  return finish(model, key, version, bytes);
}

static const char *basename_of(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static int fetch_local(const char *path, const char *model) {
  struct stat st;
  if (stat(path, &st) != 0) return fail("ArtifactUrl %s: %s is not readable: %s", opt.url, path, strerror(errno));
  char version[96], key[33];
  snprintf(version, sizeof version, "%lld:%lld.%09ld", (long long)st.st_size,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  key_of(opt.url, version, key);
  if (cached(key)) return 0;
  return unpack_and_finish(path, model, key, version);
}

/* The version of an http(s) object from its headers ("" when none). */
static void version_of(const transfer_info *i, char *out, size_t n) {
  if (i->etag[0])
    snprintf(out, n, "etag:%s", i->etag);
  else if (i->last_modified[0])
    snprintf(out, n, "modified:%s:%lld", i->last_modified, (long long)i->length);
  else
    out[0] = '\0';
}

/* What a failed S3 request whose last answer was 401 or 403 should add:
 * which key signed it, or why none did. "" otherwise. */
static const char *auth_hint(int s3, char *buf, size_t n) {
  buf[0] = '\0';
  if (!s3 || (xfer.status != 401 && xfer.status != 403)) return buf;
  if (xfer.creds)
    snprintf(buf, n, " (check the access key the agent has: AWS_ACCESS_KEY_ID or the shared "
             "credentials file, and AWS_REGION)");
  else
    snprintf(buf, n, " (requests were unsigned: %s)", unsigned_why);
  return buf;
}

/* One object (http(s) or S3) into model: an archive unpacked, else the
 * file under its name. */
static int fetch_object(const char *url, const char *name, const char *model, int s3) {
  transfer_info info = {0};
  char hint[1500];
  int signed_s3 = s3 && xfer.creds;
  int head = transfer_head(&xfer, url, &info);
  if (head < 0 || (head > 0 && (signed_s3 || info.status == 404 || info.status == 401)))
    return fail("cannot get ArtifactUrl %s: %s%s", opt.url, xfer.error,
                auth_hint(s3, hint, sizeof hint));
  char version[600] = "", key[33] = "";
  int64_t size = -1;
  if (head == 0) {
    version_of(&info, version, sizeof version);
    size = info.length;
    if (version[0]) {
      key_of(opt.url, version, key);
      if (cached(key)) return 0;
    }
  }
  grand_total = size > 0 ? (uint64_t)size : 0;
  char file[1400];
  int archive = is_archive(name);
  if (archive)
    snprintf(file, sizeof file, "%s/download", opt.work);
  else
    snprintf(file, sizeof file, "%s/%s", model, name);
  const char *etag = info.etag[0] ? info.etag : NULL;
  transfer_info got = {0};
  if (transfer_get_file(&xfer, url, file, etag, size, &got))
    return fail("downloading %s: %s%s", opt.url, xfer.error, auth_hint(s3, hint, sizeof hint));
  if (!key[0]) {
    /* No version before the GET: the GET's, else none (not reusable). */
    version_of(&got, version, sizeof version);
    if (!version[0]) snprintf(version, sizeof version, "unversioned:%lld", (long long)time(NULL));
    key_of(opt.url, version, key);
  }
  if (archive) return unpack_and_finish(file, model, key, version);
  chmod(file, 0644);
  return finish(model, key, version, xfer.done);
}

static int fetch_s3(const char *bucket, const char *key_in, const char *model,
                    const char *region) {
  char endpoint[1024], url[4096], hint[1500];
  s3_endpoint(region, endpoint, sizeof endpoint);
  if (is_archive(key_in)) {
    if (s3_object_url(endpoint, bucket, key_in, url, sizeof url))
      return fail("ArtifactUrl %s is too long", opt.url);
    return fetch_object(url, basename_of(key_in), model, 1);
  }
  /* A prefix names a folder: s3://b/models/llama is every object under
   * models/llama/. */
  char prefix[1100];
  snprintf(prefix, sizeof prefix, "%s%s", key_in, key_in[0] && !ends_with(key_in, "/") ? "/" : "");
  s3_object *objs = NULL;
  int n = s3_list(&xfer, endpoint, bucket, prefix, &objs);
  if (n < 0)
    return fail("cannot list ArtifactUrl %s: %s%s", opt.url, xfer.error,
                auth_hint(1, hint, sizeof hint));
  if (n == 0 && key_in[0] && !ends_with(key_in, "/")) {
    /* Not a folder: perhaps a single object of that name. */
    if (s3_object_url(endpoint, bucket, key_in, url, sizeof url))
      return fail("ArtifactUrl %s is too long", opt.url);
    return fetch_object(url, basename_of(key_in), model, 1);
  }
  if (n == 0) return fail("ArtifactUrl %s: there is no object under s3://%s/%s", opt.url, bucket, prefix);
  berth_buf version;
  berth_buf_init(&version, 0);
  for (int i = 0; i < n; i++) {
    berth_buf_printf(&version, "%s %s %lld\n", objs[i].key, objs[i].etag, (long long)objs[i].size);
    if (objs[i].size > 0) grand_total += (uint64_t)objs[i].size;
  }
  char key[33];
  key_of(opt.url, version.data, key);
  int rc = 0;
  if (cached(key)) goto out;
  uint64_t bytes = 0;
  for (int i = 0; i < n; i++) {
    char rel[1100], why[200], file[2400];
    /* AWS lists only keys under the prefix; another S3 server might not. */
    if (strncmp(objs[i].key, prefix, strlen(prefix)) != 0) {
      rc = fail("ListObjectsV2 on s3://%s/%s returned the key '%s', which does not start with "
                "the prefix '%s'; the S3 server at %s does not filter by prefix as S3 does",
                bucket, prefix, objs[i].key, prefix, endpoint);
      goto out;
    }
    const char *k = objs[i].key + strlen(prefix);
    if (unpack_clean_path(k, rel, sizeof rel, why, sizeof why)) {
      rc = fail("object s3://%s/%s %s; the artifact is refused", bucket, objs[i].key, why);
      goto out;
    }
    if (!rel[0]) continue;
    int folder = ends_with(objs[i].key, "/"); /* a folder marker: only the folder */
    snprintf(file, sizeof file, "%s/%s%s", model, rel, folder ? "/" : "");
    if (make_parents(file)) {
      rc = fail("cannot make the directories for %s: %s", file, strerror(errno));
      goto out;
    }
    if (folder) continue;
    if (s3_object_url(endpoint, bucket, objs[i].key, url, sizeof url)) {
      rc = fail("the key of s3://%s/%s is too long", bucket, objs[i].key);
      goto out;
    }
    if (transfer_get_file(&xfer, url, file, objs[i].etag[0] ? objs[i].etag : NULL, objs[i].size,
                          &(transfer_info){0})) {
      rc = fail("downloading %s: %s%s", opt.url, xfer.error, auth_hint(1, hint, sizeof hint));
      goto out;
    }
    chmod(file, 0644);
    bytes += xfer.done;
    base_done += xfer.done;
  }
  rc = finish(model, key, version.data, bytes);
out:
  berth_buf_free(&version);
  s3_objects_free(objs, n);
  return rc;
}

int artifact_fetch_main(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char **slot = NULL;
    if (strcmp(argv[i], "--url") == 0) slot = &opt.url;
    else if (strcmp(argv[i], "--work") == 0) slot = &opt.work;
    else if (strcmp(argv[i], "--cache") == 0) slot = &opt.cache;
    else if (strcmp(argv[i], "--dest") == 0) slot = &opt.dest;
    else if (strcmp(argv[i], "--ca-file") == 0) slot = &opt.ca_file;
    else if (strcmp(argv[i], "--readable") == 0) {
      opt.readable = 1;
      continue;
    } else {
      return fail("berthd artifact-fetch: unknown flag '%s'", argv[i]);
    }
    if (i + 1 >= argc) return fail("berthd artifact-fetch: %s needs a value", argv[i]);
    *slot = argv[++i];
  }
  if (!opt.url || !opt.work || !(opt.cache || opt.dest))
    return fail("usage: berthd artifact-fetch --url URL --work DIR (--cache DIR | --dest DIR) "
                "[--ca-file FILE] [--readable]");
  umask(022);
  char model[1200];
  snprintf(model, sizeof model, "%s/model", opt.work);
  if (mkdir(model, 0755) != 0) return fail("cannot make %s: %s", model, strerror(errno));
  const char *bundle = getenv("AWS_CA_BUNDLE");
  xfer.ca_file = bundle && *bundle ? bundle : opt.ca_file;
  xfer.on_progress = on_progress;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (transfer_init(&xfer)) return fail("cannot start libcurl");
  int rc;
  const char *url = opt.url;
  if (strncmp(url, "s3://", 5) == 0) {
    char bucket[256];
    const char *slash = strchr(url + 5, '/');
    size_t bl = slash ? (size_t)(slash - url - 5) : strlen(url + 5);
    if (bl == 0 || bl >= sizeof bucket) {
      rc = fail("ArtifactUrl %s must be s3://BUCKET/KEY (a bucket name of 1 to 255 characters)", url);
      goto out;
    }
    memcpy(bucket, url + 5, bl);
    bucket[bl] = '\0';
    char region[64];
    berth_aws_region(region, sizeof region);
    berth_aws_credentials creds = {0};
    int have = berth_aws_credentials_load(&creds, unsigned_why, sizeof unsigned_why) == 0;
    /* Without a key the request goes unsigned: a public bucket works. */
    xfer.creds = have ? &creds : NULL;
    xfer.region = region;
    rc = fetch_s3(bucket, slash ? slash + 1 : "", model, region);
    berth_aws_credentials_wipe(&creds);
  } else if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) {
    char path[2048];
    const char *p = strchr(url + (url[4] == 's' ? 8 : 7), '/');
    snprintf(path, sizeof path, "%s", p ? p : "/");
    path[strcspn(path, "?#")] = '\0';
    const char *name = basename_of(path);
    rc = fetch_object(url, name[0] ? name : "artifact", model, 0);
  } else {
    rc = fetch_local(strncmp(url, "file://", 7) == 0 ? url + 7 : url, model);
  }
out:
  fflush(stdout);
  transfer_cleanup(&xfer);
  return rc;
}
