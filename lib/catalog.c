/* catalog: the instance-type catalog (share/berth/instance-types.json).
 *
 * Every entry is validated on load and a bad one fails the whole load with a
 * message naming the file, the entry and the field, so a typo never turns
 * into an instance type with zero capacity. Fields this version does not know
 * ("description", future ones) are ignored, so newer files still load. */
#include "berth/catalog.h"
#include "berth/devices.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/buf.h"

#define CATALOG_MAX_BYTES (4 << 20)  /* a catalog is a few KiB; refuse junk */
#define MAX_ACCELERATORS 16          /* = SCHED_MAX_DEVICES */

static void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errsz, const char *fmt, ...) {
  if (!err || errsz == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errsz, fmt, ap);
  va_end(ap);
}

/* Describes a JSON value for "got ..." in messages. */
static const char *describe(const json_t *v, char *buf, size_t n) {
  if (!v) return "nothing (the field is missing)";
  switch (json_typeof(v)) {
  case JSON_INTEGER: snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
  case JSON_REAL: snprintf(buf, n, "%g", json_real_value(v)); break;
  case JSON_STRING: snprintf(buf, n, "the string \"%.40s\"", json_string_value(v)); break;
  case JSON_NULL: return "null";
  case JSON_TRUE: case JSON_FALSE: return "a boolean";
  case JSON_ARRAY: return "an array";
  case JSON_OBJECT: return "an object";
  }
  return buf;
}

/* What a field error needs to say where it is. */
typedef struct where {
  const char *path;
  size_t index;
  const char *name;   /* entry name once known, else NULL */
  char *err;
  size_t errsz;
} where;

static int field_err(const where *w, const char *field, const char *what,
                     const json_t *got) {
  char buf[96];
  char name[80] = "";
  if (w->name) snprintf(name, sizeof name, " (\"%s\")", w->name);
  set_err(w->err, w->errsz, "%s: instance_types[%zu]%s: field \"%s\" %s, got %s",
          w->path, w->index, name, field, what, describe(got, buf, sizeof buf));
  return -EINVAL;
}

/* Reads an integer field in [min, max]; a missing optional field reads 0. */
static int get_int(const where *w, const json_t *entry, const char *field,
                   int required, long min, long max, long *out) {
  const json_t *v = json_object_get(entry, field);
  char what[96];
  snprintf(what, sizeof what, "must be a whole number from %ld to %ld", min, max);
  if (!v && !required) {
    *out = 0;
    return 0;
  }
  if (!json_is_integer(v)) return field_err(w, field, what, v);
  json_int_t x = json_integer_value(v);
  if (x < min || x > max) return field_err(w, field, what, v);
  *out = (long)x;
  return 0;
}

/* Reads an optional string field of at most maxlen bytes into out. */
static int get_str(const where *w, const json_t *entry, const char *field,
                   int required, char *out, size_t outsz) {
  const json_t *v = json_object_get(entry, field);
  char what[64];
  snprintf(what, sizeof what, "must be a string of 1 to %zu characters", outsz - 1);
  if (!v && !required) {
    out[0] = '\0';
    return 0;
  }
  if (!json_is_string(v)) return field_err(w, field, what, v);
  size_t len = json_string_length(v);
  if ((required && len == 0) || len >= outsz || strlen(json_string_value(v)) != len)
    return field_err(w, field, what, v);
  memcpy(out, json_string_value(v), len + 1);
  return 0;
}

/* Fills in "local" from this machine. File values that are not 0 win, so a
 * user can declare a smaller local instance than the machine; declared
 * devices (BERTH_LOCAL_ACCELERATORS) win over the file. */
static int fill_local(berth_instance_type *t, char *err, size_t errsz) {
  if (t->vcpus == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    t->vcpus = n > 0 ? (n > INT_MAX ? INT_MAX : (int)n) : 1;
  }
  if (t->memory_mib == 0) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    long long mib = pages > 0 && page > 0 ? (long long)pages * page / (1024 * 1024) : 0;
    t->memory_mib = mib > LONG_MAX ? LONG_MAX : (long)mib;
  }
  berth_devices d;
  int rc = berth_devices_probe(&d, err, errsz);
  if (rc < 0) return rc;
  if (d.source == BERTH_DEVICES_NONE) return 0;
  if (d.source == BERTH_DEVICES_NVML && t->accelerators != 0) return 0;
  /* The smallest device's memory: placement treats devices as equal. */
  long smallest = 0;
  for (int i = 0; i < d.n && i < MAX_ACCELERATORS; i++)
    if (smallest == 0 || d.dev[i].memory_mib < smallest) smallest = d.dev[i].memory_mib;
  t->accelerators = d.n > MAX_ACCELERATORS ? MAX_ACCELERATORS : d.n;
  t->accelerator_memory_mib = smallest;
  if (d.n && !t->accelerator_kind[0])
    snprintf(t->accelerator_kind, sizeof t->accelerator_kind, "nvidia");
  return 0;
}

void berth_catalog_host_reserve(long vcpus, long memory_mib, long *cpu_milli, long *reserved_mib) {
  /* [upper bound in MiB, share in percent] per band, as GKE documents them. */
  static const struct { double upto, per_cent; } mem[] = {
      {4096, 25}, {8192, 20}, {16384, 10}, {131072, 6}, {1e15, 2}};
  (void)vcpus;
  double m = 0, lo = 0;
  for (size_t i = 0; i < sizeof mem / sizeof mem[0] && lo < (double)memory_mib; i++) {
    double hi = mem[i].upto < (double)memory_mib ? mem[i].upto : (double)memory_mib;
    m += (hi - lo) * mem[i].per_cent / 100;
    lo = hi;
  }
  *cpu_milli = 0;
  *reserved_mib = (long)ceil(m);
}

/* Reads "host_reserve" or applies the default rule; a reserve never takes a
 * whole instance. */
static int parse_reserve(const where *w, const json_t *entry, berth_instance_type *t) {
  const json_t *r = json_object_get(entry, "host_reserve");
  if (!r) {
    berth_catalog_host_reserve(t->vcpus, t->memory_mib, &t->reserved_cpu_milli,
                               &t->reserved_memory_mib);
    return 0;
  }
  if (!json_is_object(r))
    return field_err(w, "host_reserve", "must be an object {\"cpu_milli\", \"memory_mib\"}", r);
  /* Each part below the whole instance, so a copy can always fit. */
  static const char *const part[2] = {"host_reserve.cpu_milli", "host_reserve.memory_mib"};
  long max[2] = {(long)t->vcpus * 1000 - 1, t->memory_mib - 1}, got[2];
  for (int i = 0; i < 2; i++) {
    const json_t *v = json_object_get(r, part[i] + strlen("host_reserve."));
    char what[96];
    snprintf(what, sizeof what, "must be a whole number from 0 to %ld (less than the instance)",
             max[i] > 0 ? max[i] : 0);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max[i])
      return field_err(w, part[i], what, v);
    got[i] = (long)json_integer_value(v);
  }
  t->reserved_cpu_milli = got[0];
  t->reserved_memory_mib = got[1];
  return 0;
}

static int parse_entry(const where *wc, const json_t *entry, berth_instance_type *t) {
  where w = *wc;
  if (!json_is_object(entry)) {
    char buf[96];
    set_err(w.err, w.errsz, "%s: instance_types[%zu]: must be an object, got %s",
            w.path, w.index, describe(entry, buf, sizeof buf));
    return -EINVAL;
  }
  memset(t, 0, sizeof *t);
  if (get_str(&w, entry, "name", 1, t->name, sizeof t->name) < 0) return -EINVAL;
  w.name = t->name;
  int local = strcmp(t->name, "local") == 0;
  long vcpus, mem, acc, acc_mem;
  /* Only "local" may say 0 (read from the system): a declared type with no
   * CPU or memory could never hold a copy. */
  if (get_int(&w, entry, "vcpus", 1, local ? 0 : 1, 65536, &vcpus) < 0 ||
      get_int(&w, entry, "memory_mib", 1, local ? 0 : 1, 1L << 30, &mem) < 0 ||
      get_int(&w, entry, "accelerators", 0, 0, MAX_ACCELERATORS, &acc) < 0 ||
      get_int(&w, entry, "accelerator_memory_mib", acc > 0, acc ? 1 : 0, 1L << 30,
              &acc_mem) < 0 ||
      get_str(&w, entry, "accelerator_kind", 0, t->accelerator_kind,
              sizeof t->accelerator_kind) < 0)
    return -EINVAL;
  const json_t *price = json_object_get(entry, "price_per_hour");
  if (!json_is_number(price) || json_number_value(price) < 0 ||
      json_number_value(price) > 1e6)
    return field_err(&w, "price_per_hour", "must be a number of US dollars from 0 to 1000000", price);
  t->vcpus = (int)vcpus;
  t->memory_mib = mem;
  t->accelerators = (int)acc;
  t->accelerator_memory_mib = acc_mem;
  t->price_per_hour = json_number_value(price);
  /* "local" reads its size later, so its reserve comes after fill_local. */
  if (!local && parse_reserve(&w, entry, t) < 0) return -EINVAL;
  return 0;
}

int berth_catalog_load(const char *path, berth_catalog *cat, char *err, size_t errsz) {
  memset(cat, 0, sizeof *cat);
  set_err(err, errsz, "no error");
  const char *env = getenv("BERTH_CATALOG");
  int defaulted = !path && !(env && env[0]);
  if (!path) path = berth_catalog_default_path();
  int rc = 0;
  json_t *root = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    rc = -errno;
    set_err(err, errsz, "%s: cannot open the instance-type catalog: %s (%s; set BERTH_CATALOG "
            "or --catalog to a catalog file, e.g. share/berth/instance-types.json of the source)",
            path, strerror(-rc),
            defaulted ? "the default: PREFIX/share/berth beside PREFIX/bin, or share/berth in the "
                        "build directory"
                      : "the file named by --catalog or BERTH_CATALOG");
    return rc;
  }
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && st.st_size > CATALOG_MAX_BYTES) {
    set_err(err, errsz, "%s: %lld bytes is more than the %d an instance-type catalog may have",
            path, (long long)st.st_size, CATALOG_MAX_BYTES);
    rc = -EFBIG;
    goto out;
  }
  json_error_t jerr;
  root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    set_err(err, errsz, "%s:%d:%d: not valid JSON: %s", path, jerr.line, jerr.column, jerr.text);
    rc = -EINVAL;
    goto out;
  }
  json_t *arr = json_object_get(root, "instance_types");
  if (!json_is_array(arr) || json_array_size(arr) == 0) {
    set_err(err, errsz, "%s: needs a top-level object with a non-empty array \"instance_types\"", path);
    rc = -EINVAL;
    goto out;
  }
  size_t n = json_array_size(arr);
  cat->types = berth_xcalloc(n, sizeof *cat->types);
  for (size_t i = 0; i < n; i++) {
    where w = {path, i, NULL, err, errsz};
    berth_instance_type *t = &cat->types[i];
    if ((rc = parse_entry(&w, json_array_get(arr, i), t)) < 0) goto out;
    if (berth_catalog_find(cat, t->name)) {
      set_err(err, errsz, "%s: instance_types[%zu]: name \"%s\" is already used by an earlier entry",
              path, i, t->name);
      rc = -EINVAL;
      goto out;
    }
    if (strcmp(t->name, "local") == 0) {
      if ((rc = fill_local(t, err, errsz)) < 0) goto out;
      where wl = {path, i, t->name, err, errsz};
      if ((rc = parse_reserve(&wl, json_array_get(arr, i), t)) < 0) goto out;
    }
    cat->n = i + 1;
  }
out:
  if (rc < 0) berth_catalog_free(cat);
  json_decref(root);
  fclose(f);
  return rc;
}

void berth_catalog_free(berth_catalog *cat) {
  free(cat->types);
  cat->types = NULL;
  cat->n = 0;
}

const berth_instance_type *berth_catalog_find(const berth_catalog *cat, const char *name) {
  for (size_t i = 0; i < cat->n; i++)
    if (strcmp(cat->types[i].name, name) == 0) return &cat->types[i];
  return NULL;
}

/* The catalog's place relative to the running program, so that no path is
 * compiled in and an install (or a build tree) can move as a whole:
 *   <prefix>/bin/berthd      -> <prefix>/share/berth/   (cmake --install, .deb)
 *   <build>/berthd           -> <build>/share/berth/    (copied there by cmake)
 *   <build>/tests/test_x     -> <build>/share/berth/    (unit tests)
 * The program's own directory is tried first (a build tree inside the source
 * tree must not pick up the source's copy); when it has no catalog the
 * installed place is returned, found or not, so that an error names where
 * the catalog belongs.
 * The result lives in a per-thread buffer, valid until the next call. */
#define CATALOG_REL "share/berth/instance-types.json"
const char *berth_catalog_default_path(void) {
  static _Thread_local char buf[PATH_MAX];
  const char *env = getenv("BERTH_CATALOG");
  if (env && env[0]) {
    snprintf(buf, sizeof buf, "%s", env);
    return buf;
  }
  char dir[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", dir, sizeof dir - 1);
  char *slash = NULL;
  if (len > 0) {
    dir[len] = '\0';
    slash = strrchr(dir, '/');
  }
  if (!slash) {
    /* No /proc (a chroot without it): nothing to be relative to, so the
     * place the Debian package puts it. */
    snprintf(buf, sizeof buf, "%s", "/usr/" CATALOG_REL);
    return buf;
  }
  *slash = '\0'; /* the program's directory */
  char here[PATH_MAX];
  int n = snprintf(here, sizeof here, "%s/" CATALOG_REL, dir);
  slash = strrchr(dir, '/');
  if (slash) *slash = '\0'; /* its parent: the prefix ("" for /bin) */
  int m = snprintf(buf, sizeof buf, "%s/" CATALOG_REL, dir);
  if (n > 0 && (size_t)n < sizeof here && access(here, R_OK) == 0) {
    memcpy(buf, here, (size_t)n + 1);
    return buf;
  }
  if (m <= 0 || (size_t)m >= sizeof buf) snprintf(buf, sizeof buf, "%s", "/usr/" CATALOG_REL);
  return buf;
}
