/* secret: handling secrets: comparing a presented one with the expected
 * one, making new ones, wiping them, keeping them in owner-only files, and
 * sealing them for storage. */
#ifndef BERTH_SECRET_H
#define BERTH_SECRET_H

#include <stddef.h>

/* 1 when equal. Takes the same time wherever the first difference is, so
 * timing does not reveal how much of a guess was right. */
int berth_secret_equal(const char *expected, const char *given);

/* Overwrites n bytes in a way the compiler may not drop. */
void berth_secret_wipe(void *p, size_t n);

/* len random characters from alphabet (from the kernel's CSPRNG), NUL
 * terminated in out[len]. 0 or -1. */
int berth_secret_random(char *out, size_t len, const char *alphabet);

#define BERTH_HEX_DIGITS "0123456789abcdef"

/* Writes text to path, mode 0600, through a temporary file, fsync and
 * rename: a crash leaves the old file or the new one, never half of one.
 * 0 or -errno. */
int berth_secret_write(const char *path, const char *text);
/* The first line of path (no line end) into out. Its length, or -errno
 * (-ENOENT: no such file). */
int berth_secret_read(const char *path, char *out, size_t outsz);

/* AES-256-GCM with key (32 bytes), bound to aad (what the secret belongs
 * to, so a sealed value cannot be moved to another record): out gets hex
 * of nonce | ciphertext | tag. 0 or -1. */
int berth_secret_seal(const unsigned char key[32], const char *plain, const char *aad,
                      char *out, size_t outsz);
/* The reverse: 0, or -1 when the value was altered, sealed under another
 * key or for another aad, or does not fit. */
int berth_secret_open(const unsigned char key[32], const char *sealed, const char *aad,
                      char *out, size_t outsz);

#endif
