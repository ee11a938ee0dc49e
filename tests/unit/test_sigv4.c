/* test_sigv4: lib/sigv4 against signatures the AWS SDK's own signer
 * (@smithy/signature-v4, as the SageMaker clients use it) produced. */
#include <errno.h>
#include <string.h>

#include "berth/sigv4.h"
#include "check.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* POST /endpoints/my%20endpoint%2Fx/invocations?b=2%20x&a=z%2Fy, signed by
 * the SDK at 2026-11-25T03:40:51Z for sagemaker in us-east-1. */
static void test_sdk_vector(void) {
  const char *auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/sagemaker/"
                     "aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;"
                     "x-amz-date;x-amz-target;x-custom, Signature=538596943ff7013bf5aa65f3aae2b8"
                     "ef4bd73906c6c6192e9eeea5ec5c49a451";
  berth_sigv4_auth a;
  char err[256];
  CHECK_INT(berth_sigv4_parse(auth, &a, err, sizeof err), 0);
  CHECK_STR(a.access_key, "AKIDEXAMPLE");
  CHECK_STR(a.date, "20261125");
  CHECK_STR(a.region, "us-east-1");
  CHECK_STR(a.service, "sagemaker");
  const char *body = "{\"EndpointName\":\"my ep\"}";
  char sha[65];
  berth_sha256_hex(body, strlen(body), sha);
  CHECK_STR(sha, "86bc5ad47dc80ffd3ca149d0db447c5e394e40e359620f910512d122f97c845b");
  /* As the server parsed them: names lower case, values trimmed. */
  berth_http_header h[] = {{"host", "127.0.0.1:8080"},
                           {"content-type", "application/json"},
                           {"x-amz-target", "SageMaker.X"},
                           {"x-amz-content-sha256", sha},
                           {"x-custom", "a   b"},
                           {"x-amz-date", "20261125T034051Z"},
                           {"user-agent", "not signed"}};
  berth_buf creq;
  berth_buf_init(&creq, 0);
  CHECK_INT(berth_sigv4_canonical(&creq, "POST", "/endpoints/my%20endpoint%2Fx/invocations",
                                  "b=2%20x&a=z%2Fy", h, sizeof h / sizeof h[0], a.signed_headers,
                                  sha, 0),
            0);
  /* The path encoded twice, the query sorted, the custom value collapsed. */
  CHECK(strstr(creq.data, "\n/endpoints/my%2520endpoint%252Fx/invocations\na=z%2Fy&b=2%20x\n"));
  CHECK(strstr(creq.data, "\nx-custom:a b\n"));
  char sig[65];
  berth_sigv4_sign(SECRET, a.date, a.region, a.service, "20261125T034051Z", creq.data, creq.len,
                   sig);
  CHECK_STR(sig, a.signature);
  /* Another key, and it no longer matches. */
  berth_sigv4_sign("wrong" SECRET, a.date, a.region, a.service, "20261125T034051Z", creq.data,
                   creq.len, sig);
  CHECK(strcmp(sig, a.signature) != 0);
  berth_buf_reset(&creq);
  CHECK_INT(berth_sigv4_canonical(&creq, "POST", "/endpoints/my%20endpoint%2Fx/invocations",
                                  "b=2%20x&a=z%2Fy", h, 5, a.signed_headers, sha, 0),
            -ENOENT); /* x-amz-date signed but not sent */
  berth_buf_free(&creq);
}

static void test_parse_errors(void) {
  const char *bad[] = {
    "Bearer x",
    "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" "00000000000000000000000000000000"
      "00000000000000000000000000000000",
    "AWS4-HMAC-SHA256 Credential=AK/20261125/us-east-1/sagemaker/aws4_request, Signature=" "00",
    "AWS4-HMAC-SHA256 Credential=AK/2026112/us-east-1/sagemaker/aws4_request, SignedHeaders=host, "
      "Signature=0000000000000000000000000000000000000000000000000000000000000000",
    "AWS4-HMAC-SHA256 Credential=AK/20261125/us-east-1/sagemaker, SignedHeaders=host, "
      "Signature=0000000000000000000000000000000000000000000000000000000000000000",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    berth_sigv4_auth a;
    char err[256] = "";
    CHECK_INT(berth_sigv4_parse(bad[i], &a, err, sizeof err), -EINVAL);
    CHECK(err[0] != '\0');
  }
}

int main(void) {
  test_sdk_vector();
  test_parse_errors();
  CHECK_DONE();
}
