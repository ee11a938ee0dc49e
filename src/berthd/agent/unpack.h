/* unpack: a model artifact archive (.tar, .tar.gz, .tgz; any compression
 * libarchive reads) unpacked safely into a directory, for the
 * artifact-fetch child (blocking; never on a loop thread).
 *
 * Safe means: nothing is written outside the directory. An entry with an
 * absolute path or a ".." component, a symlink whose target is absolute or
 * leads out of the directory (as text or through the other symlinks the
 * archive makes, in any order), a hardlink to a path outside it (followed
 * through those symlinks), and device nodes, FIFOs and sockets each fail
 * the whole unpack with a reason naming the entry. Owners are never restored, setuid/setgid/sticky bits are
 * dropped, and with `readable` every file and directory becomes readable
 * (not writable) by everyone, since the copy may run as another user. */
#ifndef BERTHD_UNPACK_H
#define BERTHD_UNPACK_H

#include <stddef.h>
#include <stdint.h>

/* name as the archive gives it -> a relative path without "." components
 * or trailing slash in out ("" for the archive's root "./"). 0, or -1 with
 * why (the rule it breaks). */
int unpack_clean_path(const char *name, char *out, size_t outsz, char *why, size_t whysz);

/* 1 when a symlink at the clean relative path `path` pointing at `target`
 * resolves (lexically, as if no other entry were a symlink) inside the
 * directory, else 0. unpack_archive also resolves it through the tree. */
int unpack_link_inside(const char *path, const char *target);

/* Unpacks the archive file into dir (an existing, empty directory). 0 and
 * the bytes of regular files written in *bytes, or -1 with why. */
int unpack_archive(const char *archive, const char *dir, int readable, uint64_t *bytes,
                   char *why, size_t whysz);

#endif
