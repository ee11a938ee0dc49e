/* unpack: see unpack.h.
 *
 * DESIGN: every entry's path is checked and rewritten here (so the reason
 * names the entry as the archive spells it), and libarchive's own
 * SECURE_* flags stay on beneath as a second line: they also refuse to
 * write through a symlink an earlier entry made. The child chdir()s into
 * the target and writes relative paths, so a path never needs joining.
 *
 * Links are checked against the tree, not only as text: `l1 -> .` then
 * `l2 -> l1/..` is harmless text but points outside. A hard link's target
 * is resolved through the symlinks unpacked so far (link() follows them)
 * and rewritten to the path it resolves to. A symlink is resolved when it
 * is written and again once the whole archive is unpacked, since a later
 * entry (`l1` above) can change where an earlier one points. */
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/buf.h"

#define LINK_HOPS_MAX 40        /* symlinks one resolution follows, as Linux's ELOOP */
#define LINKS_MAX 100000        /* link entries one archive may hold */

int unpack_clean_path(const char *name, char *out, size_t outsz, char *why, size_t whysz) {
  if (!name || !*name) {
    snprintf(why, whysz, "has an empty name");
    return -1;
  }
  if (name[0] == '/') {
    snprintf(why, whysz, "has an absolute path");
    return -1;
  }
  size_t len = 0;
  const char *p = name;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      snprintf(why, whysz, "has a '..' component (it would land outside the model directory)");
      return -1;
    }
    if (n && !(n == 1 && p[0] == '.')) {
      if (len + n + 2 > outsz) {
        snprintf(why, whysz, "has a path longer than %zu bytes", outsz - 1);
        return -1;
      }
      if (len) out[len++] = '/';
      memcpy(out + len, p, n);
      len += n;
    }
    p += n;
    while (*p == '/') p++;
  }
  out[len] = '\0';
  return 0;
}

int unpack_link_inside(const char *path, const char *target) {
  if (!target || !*target || target[0] == '/') return 0;
  /* The link's own directory is how deep it starts. */
  int depth = 0;
  for (const char *s = path; *s; s++)
    if (*s == '/') depth++;
  const char *p = target;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (--depth < 0) return 0;
    } else if (n && !(n == 1 && p[0] == '.')) {
      depth++;
    }
    p += n;
    while (*p == '/') p++;
  }
  return 1;
}

/* Where path (relative to rootfd) leads, following the symlinks on disk
 * (the last component's only with follow_last), as a clean relative path
 * in out. 0 when it stays inside; -1 when it leaves the directory (a '..'
 * above it or an absolute symlink on the way); -2 past LINK_HOPS_MAX
 * symlinks or PATH_MAX. A component that does not exist (yet) is taken
 * as written. */
static int resolve_beneath(int rootfd, const char *path, int follow_last, char *out,
                           size_t outsz) {
  char rest[8192], target[4096];
  size_t len = 0;               /* of out: the components resolved so far */
  int hops = 0;
  if (snprintf(rest, sizeof rest, "%s", path) >= (int)sizeof rest) return -2;
  out[0] = '\0';
  char *p = rest;
  for (;;) {
    while (*p == '/') p++;
    if (!*p) break;
    char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char *next = p + n;
    while (*next == '/') next++;
    int last = !*next;
    if (n == 1 && p[0] == '.') {
      p = next;
      continue;
    }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (!len) return -1;
      char *s = strrchr(out, '/');
      len = s ? (size_t)(s - out) : 0;
      out[len] = '\0';
      p = next;
      continue;
    }
    size_t before = len;
    if (len + n + 2 > outsz) return -2;
    if (len) out[len++] = '/';
    memcpy(out + len, p, n);
    len += n;
    out[len] = '\0';
    p = next;
    struct stat st;
    if ((last && !follow_last) || fstatat(rootfd, out, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISLNK(st.st_mode))
      continue;
    if (++hops > LINK_HOPS_MAX) return -2;
    ssize_t tl = readlinkat(rootfd, out, target, sizeof target - 1);
    if (tl < 0) return -2;
    target[tl] = '\0';
    if (target[0] == '/') return -1;
    /* The link's text replaces it: go on from its directory. */
    len = before;
    out[len] = '\0';
    char joined[sizeof rest];
    if (snprintf(joined, sizeof joined, "%s/%s", target, p) >= (int)sizeof joined) return -2;
    memcpy(rest, joined, strlen(joined) + 1);
    p = rest;
  }
  return 0;
}

/* "the directory of the entry at path" + "/" + target, for resolving a
 * symlink's text from where it sits. */
static int link_from_dir(const char *path, const char *target, char *out, size_t outsz) {
  const char *slash = strrchr(path, '/');
  int dl = slash ? (int)(slash - path) : 0;
  return snprintf(out, outsz, "%.*s/%s", dl, path, target) >= (int)outsz ? -1 : 0;
}

/* The link entries an archive wrote, checked again once it is unpacked. */
typedef struct link_list {
  char **clean, **name;         /* the path written, the path as the archive spells it */
  size_t n, cap;
} link_list;

static void links_free(link_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->clean[i]);
    free(l->name[i]);
  }
  free(l->clean);
  free(l->name);
}

static int links_add(link_list *l, const char *clean, const char *name) {
  if (l->n == LINKS_MAX) return -1;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->clean = berth_xrealloc(l->clean, l->cap * sizeof *l->clean);
    l->name = berth_xrealloc(l->name, l->cap * sizeof *l->name);
  }
  l->clean[l->n] = berth_xstrdup(clean);
  l->name[l->n] = berth_xstrdup(name);
  l->n++;
  return 0;
}

/* Every symlink among the link entries (a hard link to a symlink is one
 * too), resolved in the finished tree. 0, or -1 with why. */
static int check_links(int rootfd, const link_list *l, char *why, size_t whysz) {
  char resolved[4096], target[4096];
  for (size_t i = 0; i < l->n; i++) {
    struct stat st;
    if (fstatat(rootfd, l->clean[i], &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode))
      continue;
    ssize_t tl = readlinkat(rootfd, l->clean[i], target, sizeof target - 1);
    target[tl > 0 ? tl : 0] = '\0';
    int r = resolve_beneath(rootfd, l->clean[i], 1, resolved, sizeof resolved);
    if (r == -1) {
      snprintf(why, whysz, "archive entry '%.1000s' is a symbolic link to '%.1000s', which "
               "through the links the archive makes points outside the model directory; the "
               "archive is refused", l->name[i], target);
      return -1;
    }
    if (r) {
      snprintf(why, whysz, "archive entry '%.1000s' is a symbolic link to '%.1000s', which "
               "goes through more than %d links or is too long to follow; the archive is "
               "refused", l->name[i], target, LINK_HOPS_MAX);
      return -1;
    }
  }
  return 0;
}

/* Permissions as written: no setuid/setgid/sticky; the owner may always
 * read (and, for directories, write and enter) so the cache can remove it. */
static mode_t safe_mode(mode_t m, int dir, int readable) {
  m &= 0777;
  m |= dir ? 0700 : 0600;
  if (readable) {
    m |= dir ? 0755 : 0644;
    if (m & 0100) m |= 0011; /* u+x: everyone may run it (chmod go+X) */
    m &= (mode_t)~0022;
  }
  return m;
}

int unpack_archive(const char *archive, const char *dir, int readable, uint64_t *bytes,
                   char *why, size_t whysz) {
  int rc = -1, rootfd = -1;
  char cwd[4096];
  link_list links = {0};
  *bytes = 0;
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
  struct archive *in = archive_read_new();
  struct archive *out = archive_write_disk_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  archive_read_support_format_gnutar(in);
  /* No owners, no ACLs or xattrs from the archive. */
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                          ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  if (archive_read_open_filename(in, archive, 1 << 16) != ARCHIVE_OK) {
    snprintf(why, whysz, "cannot read the archive: %s", archive_error_string(in));
    goto out;
  }
  if (chdir(dir) != 0) {
    snprintf(why, whysz, "cannot enter %s to unpack into: %s", dir, strerror(errno));
    goto out;
  }
  rootfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) {
    snprintf(why, whysz, "cannot open %s to unpack into: %s", dir, strerror(errno));
    goto out;
  }
  struct archive_entry *e;
  char clean[4096], link_clean[4096], resolved[4096], rule[160];
  for (;;) {
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      snprintf(why, whysz, "the archive is damaged or not a tar archive: %s",
               archive_error_string(in));
      goto out;
    }
    const char *name = archive_entry_pathname(e);
    if (unpack_clean_path(name, clean, sizeof clean, rule, sizeof rule)) {
      snprintf(why, whysz, "archive entry '%.1000s' %s; the archive is refused", name ? name : "",
               rule);
      goto out;
    }
    if (!clean[0]) continue; /* "./": the directory itself */
    mode_t type = archive_entry_filetype(e);
    const char *hard = archive_entry_hardlink(e);
    if (hard) {
      /* link() follows symlinks on the way to the target (not the last
       * one): resolve them here and link the file they lead to. */
      if (unpack_clean_path(hard, link_clean, sizeof link_clean, rule, sizeof rule) ||
          !link_clean[0] ||
          resolve_beneath(rootfd, link_clean, 0, resolved, sizeof resolved) != 0 ||
          !resolved[0]) {
        snprintf(why, whysz, "archive entry '%.1000s' is a hard link to '%.1000s', which is "
                 "outside the model directory; the archive is refused", name, hard);
        goto out;
      }
      archive_entry_set_hardlink(e, resolved);
    } else if (type == AE_IFLNK) {
      const char *target = archive_entry_symlink(e);
      if (!unpack_link_inside(clean, target) ||
          link_from_dir(clean, target, link_clean, sizeof link_clean) ||
          resolve_beneath(rootfd, link_clean, 1, resolved, sizeof resolved) != 0) {
        snprintf(why, whysz, "archive entry '%.1000s' is a symbolic link to '%.1000s', which "
                 "points outside the model directory; the archive is refused", name,
                 target ? target : "");
        goto out;
      }
    } else if (type != AE_IFREG && type != AE_IFDIR) {
      const char *kind = type == AE_IFCHR ? "a character device" : type == AE_IFBLK ? "a block device"
                       : type == AE_IFIFO ? "a FIFO" : type == AE_IFSOCK ? "a socket" : "of an unknown type";
      snprintf(why, whysz, "archive entry '%.1000s' is %s; a model artifact may hold only files, "
               "directories and links; the archive is refused", name, kind);
      goto out;
    }
    if ((hard || type == AE_IFLNK) && links_add(&links, clean, name)) {
      snprintf(why, whysz, "the archive holds more than %d links, more than a model artifact "
               "may; the archive is refused", LINKS_MAX);
      goto out;
    }
    archive_entry_set_pathname(e, clean);
    if (!hard && type != AE_IFLNK)
      archive_entry_set_perm(e, safe_mode(archive_entry_perm(e), type == AE_IFDIR, readable));
    archive_entry_set_uid(e, getuid());
    archive_entry_set_gid(e, getgid());
    r = archive_write_header(out, e);
    if (r < ARCHIVE_WARN) {
      snprintf(why, whysz, "cannot unpack archive entry '%.1000s': %s", name,
               archive_error_string(out));
      goto out;
    }
    if (!hard && type == AE_IFREG) {
      const void *buf;
      size_t size;
      int64_t off;
      for (;;) {
        r = archive_read_data_block(in, &buf, &size, &off);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
          snprintf(why, whysz, "the archive is damaged at entry '%.1000s': %s", name,
                   archive_error_string(in));
          goto out;
        }
        if (archive_write_data_block(out, buf, size, off) < ARCHIVE_WARN) {
          snprintf(why, whysz, "cannot write archive entry '%.1000s': %s", name,
                   archive_error_string(out));
          goto out;
        }
        *bytes += size;
      }
    }
    if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
      snprintf(why, whysz, "cannot finish archive entry '%.1000s': %s", name,
               archive_error_string(out));
      goto out;
    }
  }
  /* Directory permissions and times are set here, after their contents. */
  if (archive_write_close(out) != ARCHIVE_OK) {
    snprintf(why, whysz, "cannot finish unpacking: %s", archive_error_string(out));
    goto out;
  }
  if (check_links(rootfd, &links, why, whysz)) goto out;
  rc = 0;
out:
  archive_read_free(in);
  archive_write_free(out);
  links_free(&links);
  if (rootfd >= 0) close(rootfd);
  if (cwd[0] && chdir(cwd) != 0) { /* nothing to do: the child exits soon */ }
  return rc;
}
