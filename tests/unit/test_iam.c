/* test_iam: permission patterns (lib/iam.c) and sealed secrets
 * (lib/secret.c), the pieces access keys are made of. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/iam.h"
#include "berth/secret.h"
#include "check.h"

int main(void) {
  /* Actions: IAM wildcards, case-insensitive. */
  CHECK(berth_iam_match("*", "sagemaker:InvokeEndpoint", 1));
  CHECK(berth_iam_match("sagemaker:InvokeEndpoint", "sagemaker:invokeendpoint", 1));
  CHECK(berth_iam_match("sagemaker:Describe*", "sagemaker:DescribeEndpoint", 1));
  CHECK(!berth_iam_match("sagemaker:Describe*", "sagemaker:CreateEndpoint", 1));
  CHECK(!berth_iam_match("sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream", 1));
  CHECK(berth_iam_match("sagemaker:Invoke*", "sagemaker:InvokeEndpointWithResponseStream", 1));
  CHECK(berth_iam_match("application-autoscaling:*", "application-autoscaling:RegisterScalableTarget", 1));
  CHECK(!berth_iam_match("application-autoscaling:*", "sagemaker:RegisterScalableTarget", 1));
  CHECK(berth_iam_match("sagemaker:?ist*", "sagemaker:ListEndpoints", 1));
  /* Resources: exact case; '*' crosses ':' and '/' as IAM's does. */
  const char *arn = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/demo";
  CHECK(berth_iam_match("arn:aws:sagemaker:*:*:endpoint/demo", arn, 0));
  CHECK(!berth_iam_match("arn:aws:sagemaker:*:*:endpoint/demo", "arn:aws:sagemaker:us-east-1:0:endpoint/demo2", 0));
  CHECK(berth_iam_match("arn:aws:sagemaker:*:*:endpoint/demo*", "arn:aws:sagemaker:us-east-1:0:endpoint/demo2", 0));
  CHECK(!berth_iam_match("arn:aws:sagemaker:*:*:endpoint/Demo", arn, 0));
  CHECK(berth_iam_match("arn:aws:sagemaker:*:*:endpoint/Demo", arn, 1));
  CHECK(!berth_iam_match("arn:aws:sagemaker:*:*:endpoint/demo", "*", 0));
  CHECK(berth_iam_match("*", "*", 0));
  /* A pattern of many stars over a long non-match stays fast (linear). */
  char many[200], text[5000];
  for (int i = 0; i < 199; i++) many[i] = i % 2 ? '*' : 'a';
  many[199] = 'b';
  memset(text, 'a', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  CHECK(!berth_iam_match(many, text, 0));

  char err[300];
  CHECK_INT(berth_iam_action_valid("sagemaker:InvokeEndpoint", err, sizeof err), 0);
  CHECK_INT(berth_iam_action_valid("*", err, sizeof err), 0);
  CHECK_INT(berth_iam_action_valid("InvokeEndpoint", err, sizeof err), -1);
  CHECK(strstr(err, "'InvokeEndpoint' must be service:Operation") != NULL);
  CHECK_INT(berth_iam_action_valid("SageMaker:X", err, sizeof err), -1);
  CHECK_INT(berth_iam_action_valid("sagemaker:Invoke Endpoint", err, sizeof err), -1);
  CHECK_INT(berth_iam_resource_valid("arn:aws:sagemaker:*:*:endpoint/demo", err, sizeof err), 0);
  CHECK_INT(berth_iam_resource_valid("endpoint/demo", err, sizeof err), -1);
  CHECK_INT(berth_iam_resource_valid("arn:aws:x y", err, sizeof err), -1);

  /* Sealed secrets open only with their key and for their record. */
  unsigned char key[32], other[32];
  for (int i = 0; i < 32; i++) key[i] = (unsigned char)i, other[i] = (unsigned char)(i + 1);
  char sealed[300], plain[65];
  CHECK_INT(berth_secret_seal(key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "BKIA1", sealed, sizeof sealed), 0);
  CHECK(strstr(sealed, "wJalr") == NULL);
  CHECK_INT(berth_secret_open(key, sealed, "BKIA1", plain, sizeof plain), 0);
  CHECK_STR(plain, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  CHECK_INT(berth_secret_open(other, sealed, "BKIA1", plain, sizeof plain), -1);
  CHECK_INT(berth_secret_open(key, sealed, "BKIA2", plain, sizeof plain), -1);
  sealed[30] = sealed[30] == 'a' ? 'b' : 'a';
  CHECK_INT(berth_secret_open(key, sealed, "BKIA1", plain, sizeof plain), -1);
  CHECK_INT(berth_secret_open(key, "zz", "BKIA1", plain, sizeof plain), -1);
  char again[300];
  CHECK_INT(berth_secret_seal(key, "same", "BKIA1", sealed, sizeof sealed), 0);
  CHECK_INT(berth_secret_seal(key, "same", "BKIA1", again, sizeof again), 0);
  CHECK(strcmp(sealed, again) != 0); /* a fresh nonce each time */

  /* Owner-only files, written whole. */
  char dir[] = "/tmp/berth-test-secret-XXXXXX", path[100], line[80];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/token", dir);
  CHECK_INT(berth_secret_read(path, line, sizeof line), -ENOENT);
  CHECK_INT(berth_secret_write(path, "abc123\nrest\n"), 0);
  struct stat st;
  CHECK_INT(stat(path, &st), 0);
  CHECK_INT((int)(st.st_mode & 0777), 0600);
  CHECK_INT(berth_secret_read(path, line, sizeof line), 6);
  CHECK_STR(line, "abc123");
  CHECK_INT(berth_secret_write(path, "new"), 0);
  CHECK_INT(berth_secret_read(path, line, sizeof line), 3);
  unlink(path);
  rmdir(dir);

  char r1[41], r2[41];
  CHECK_INT(berth_secret_random(r1, 40, "AB"), 0);
  CHECK_INT(berth_secret_random(r2, 40, "AB"), 0);
  CHECK_INT((int)strlen(r1), 40);
  CHECK(strspn(r1, "AB") == 40 && strcmp(r1, r2) != 0);
  CHECK_DONE();
}
