/* cmd_invoke: `berth invoke`, one request to an endpoint's runtime API.
 *
 * The request body comes from --data, --data-file or stdin and is bounded by
 * the SageMaker Runtime limit; the response body goes to stdout unchanged. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "client.h"

/* SageMaker Runtime's request body limit. */
#define MAX_REQUEST ((size_t)6291456)

static const char invoke_usage[] =
  "usage: berth invoke EP [--ic IC] [--content-type T] [--custom-attributes S]\n"
  "                       [--data STRING | --data-file FILE]\n"
  "\n"
  "Sends one request to endpoint EP and prints the response body. The body is\n"
  "--data, the contents of --data-file (- for stdin), or stdin.\n"
  "\n"
  "  --ic IC                 inference component to invoke\n"
  "  --content-type T        request content type (default application/json)\n"
  "  --custom-attributes S   passed to the model as X-Amzn-SageMaker-Custom-Attributes\n";

/* Reads all of `f` into `out` (bounded). Returns 0, or -1 with *err filled. */
static int read_body(FILE *f, const char *what, berth_buf *out, berth_cli_error *err) {
  char chunk[65536];
  for (;;) {
    size_t n = fread(chunk, 1, sizeof chunk, f);
    if (n && berth_buf_append(out, chunk, n) != 0) {
      berth__error_set(err, "the request body in %s is larger than %zu bytes (the "
                       "SageMaker Runtime limit)", what, MAX_REQUEST);
      return -1;
    }
    if (n < sizeof chunk) break;
  }
  if (ferror(f)) {
    berth__error_set(err, "cannot read %s: %s", what, strerror(errno));
    return -1;
  }
  return 0;
}

int berth__cmd_invoke(berth_cli *cli, int argc, char **argv) {
  berth_invocation inv = {.content_type = "application/json"};
  const char *data = NULL, *data_file = NULL, *v;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (berth__args_is_help(a)) {
      fputs(invoke_usage, stdout);
      return BERTH_EXIT_OK;
    } else if (berth__args_value(argc, argv, &i, "--ic", &v)) {
      inv.ic = v;
    } else if (berth__args_value(argc, argv, &i, "--content-type", &v)) {
      if (!*v) berth__usage_error("--content-type: empty value");
      inv.content_type = v;
    } else if (berth__args_value(argc, argv, &i, "--custom-attributes", &v)) {
      if (strlen(v) > 1024) berth__usage_error("--custom-attributes: longer than 1024 characters");
      inv.custom_attributes = v;
    } else if (berth__args_value(argc, argv, &i, "--data", &v)) {
      data = v;
    } else if (berth__args_value(argc, argv, &i, "--data-file", &v)) {
      data_file = v;
    } else if (a[0] == '-' || inv.endpoint) {
      berth__args_unknown(a);
    } else {
      inv.endpoint = a;
    }
  }
  if (!inv.endpoint) berth__usage_error("missing endpoint name");
  if (data && data_file) berth__usage_error("--data and --data-file exclude each other");
  if (inv.custom_attributes && strpbrk(inv.custom_attributes, "\r\n"))
    berth__usage_error("--custom-attributes: must not contain line breaks");
  if (inv.ic && strpbrk(inv.ic, "\r\n"))
    berth__usage_error("--ic: must not contain line breaks");
  if (strpbrk(inv.content_type, "\r\n"))
    berth__usage_error("--content-type: must not contain line breaks");

  int exit_code = BERTH_EXIT_FAIL;
  berth_cli_error err;
  berth_buf body, resp;
  berth_buf_init(&body, MAX_REQUEST);
  berth_buf_init(&resp, BERTH_INVOKE_MAX_RESPONSE);

  if (data) {
    if (strlen(data) > MAX_REQUEST) {
      berth__error_set(&err, "--data is larger than %zu bytes (the SageMaker Runtime "
                       "limit)", MAX_REQUEST);
      goto fail;
    }
    inv.body = data;
    inv.body_len = strlen(data);
  } else {
    FILE *f = stdin;
    const char *what = "stdin";
    if (data_file && strcmp(data_file, "-") != 0) {
      f = fopen(data_file, "rb");
      what = data_file;
      if (!f) {
        berth__error_set(&err, "cannot open --data-file %s: %s", data_file, strerror(errno));
        goto fail;
      }
    }
    int rc = read_body(f, what, &body, &err);
    if (f != stdin) fclose(f);
    if (rc != 0) goto fail;
    inv.body = body.data;
    inv.body_len = body.len;
  }

  if (berth__runtime_invoke(cli, &inv, &resp, &err) != 0) goto fail;
  if (resp.len && fwrite(resp.data, 1, resp.len, stdout) != resp.len) goto write_fail;
  if (cli->stdout_tty && resp.len && resp.data[resp.len - 1] != '\n') putchar('\n');
  if (fflush(stdout) != 0) goto write_fail;
  exit_code = BERTH_EXIT_OK;
  goto out;
write_fail:
  berth__error_set(&err, "cannot write the response to stdout: %s", strerror(errno));
fail:
  berth__error_print(&err);
out:
  berth_buf_free(&body);
  berth_buf_free(&resp);
  return exit_code;
}
