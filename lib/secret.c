/* secret: see secret.h. */
#include "berth/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int berth_secret_equal(const char *expected, const char *given) {
  size_t n = strlen(expected), m = strlen(given);
  unsigned char diff = (unsigned char)(n != m);
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(expected[i] ^ (i < m ? given[i] : 0));
  return diff == 0;
}

void berth_secret_wipe(void *p, size_t n) { OPENSSL_cleanse(p, n); }

int berth_secret_random(char *out, size_t len, const char *alphabet) {
  size_t na = strlen(alphabet);
  /* Rejection sampling: every character equally likely. */
  size_t limit = 256 - 256 % na, k = 0;
  unsigned char rnd[64];
  while (k < len) {
    if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
    for (size_t i = 0; i < sizeof rnd && k < len; i++)
      if (rnd[i] < limit) out[k++] = alphabet[rnd[i] % na];
  }
  out[len] = '\0';
  berth_secret_wipe(rnd, sizeof rnd);
  return 0;
}

int berth_secret_write(const char *path, const char *text) {
  char tmp[4200];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  size_t n = strlen(text);
  int rc = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  if (!rc && rename(tmp, path) != 0) rc = -errno;
  if (rc) unlink(tmp);
  return rc;
}

int berth_secret_read(const char *path, char *out, size_t outsz) {
  FILE *f = fopen(path, "re");
  if (!f) return -errno;
  out[0] = '\0';
  if (!fgets(out, (int)outsz, f)) out[0] = '\0';
  fclose(f);
  out[strcspn(out, "\r\n")] = '\0';
  return (int)strlen(out);
}

enum { NONCE = 12, TAG = 16 };

static void to_hex(const unsigned char *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int from_hex(const char *s, unsigned char *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (unsigned char)v;
  }
  return 0;
}

int berth_secret_seal(const unsigned char key[32], const char *plain, const char *aad,
                      char *out, size_t outsz) {
  size_t n = strlen(plain);
  unsigned char buf[NONCE + 256 + TAG];
  if (n > 256 || outsz < 2 * (NONCE + n + TAG) + 1) return -1;
  if (RAND_bytes(buf, NONCE) != 1) return -1;
  EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
  int len = 0, ok = x && EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
                    EVP_EncryptUpdate(x, NULL, &len, (const unsigned char *)aad,
                                      (int)strlen(aad)) == 1 &&
                    EVP_EncryptUpdate(x, buf + NONCE, &len, (const unsigned char *)plain,
                                      (int)n) == 1 &&
                    EVP_EncryptFinal_ex(x, buf + NONCE + len, &len) == 1 &&
                    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG, buf + NONCE + n) == 1;
  EVP_CIPHER_CTX_free(x);
  if (ok) to_hex(buf, NONCE + n + TAG, out);
  berth_secret_wipe(buf, sizeof buf);
  return ok ? 0 : -1;
}

int berth_secret_open(const unsigned char key[32], const char *sealed, const char *aad,
                      char *out, size_t outsz) {
  size_t hl = strlen(sealed);
  unsigned char buf[NONCE + 256 + TAG];
  if (hl % 2 || hl / 2 < NONCE + TAG || hl / 2 > sizeof buf) return -1;
  size_t n = hl / 2 - NONCE - TAG;
  if (n + 1 > outsz || from_hex(sealed, buf, hl / 2)) return -1;
  EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
  int len = 0, ok = x && EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
                    EVP_DecryptUpdate(x, NULL, &len, (const unsigned char *)aad,
                                      (int)strlen(aad)) == 1 &&
                    EVP_DecryptUpdate(x, (unsigned char *)out, &len, buf + NONCE, (int)n) == 1 &&
                    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG, buf + NONCE + n) == 1 &&
                    EVP_DecryptFinal_ex(x, (unsigned char *)out + len, &len) == 1;
  EVP_CIPHER_CTX_free(x);
  if (ok) out[n] = '\0';
  else berth_secret_wipe(out, outsz);
  return ok ? 0 : -1;
}
