/* unpack: see unpack.h.
 *
 * DESIGN: every entry's path is checked and rewritten here (so the reason
 * names the entry as the archive spells it), and libarchive's own
 * SECURE_* flags stay on beneath as a second line: they also refuse to
 * write through a symlink an earlier entry made. The child chdir()s into
 * the target and writes relative paths, so a path never needs joining. */
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
  int rc = -1;
  char cwd[4096];
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
  struct archive_entry *e;
  char clean[4096], link_clean[4096], rule[160];
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
      if (unpack_clean_path(hard, link_clean, sizeof link_clean, rule, sizeof rule) ||
          !link_clean[0]) {
        snprintf(why, whysz, "archive entry '%.1000s' is a hard link to '%.1000s', which is "
                 "outside the model directory; the archive is refused", name, hard);
        goto out;
      }
      archive_entry_set_hardlink(e, link_clean);
    } else if (type == AE_IFLNK) {
      const char *target = archive_entry_symlink(e);
      if (!unpack_link_inside(clean, target)) {
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
  rc = 0;
out:
  archive_read_free(in);
  archive_write_free(out);
  if (cwd[0] && chdir(cwd) != 0) { /* nothing to do: the child exits soon */ }
  return rc;
}
