/* cmd_token: `berth token [--expires DURATION]`, a bearer token of the
 * access key the CLI signs with (Berth.CreateToken), for clients that send
 * `Authorization: Bearer` instead of SigV4 (the OpenAI SDKs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "client.h"

#define MIN_S 60L
#define MAX_S (7L * 24 * 3600)

static const char usage[] =
  "usage: berth token [--expires DURATION]\n"
  "\n"
  "Prints a bearer token of the access key this CLI signs with: it may do what\n"
  "the key may (its --allow and --resource) until it expires, and dies with the\n"
  "key. Send it as 'Authorization: Bearer TOKEN', e.g. as an OpenAI client's\n"
  "apiKey with baseURL RUNTIME_URL/endpoints/NAME/openai/v1.\n"
  "\n"
  "  --expires DURATION  lifetime: a number with s, m, h or d (default 12h;\n"
  "                      1m to 7d); a bare number is seconds\n";

int berth__cmd_token(berth_cli *cli, int argc, char **argv) {
  long expires = 12 * 3600;
  const char *v;
  for (int i = 0; i < argc; i++) {
    if (berth__args_is_help(argv[i])) {
      fputs(usage, stdout);
      return BERTH_EXIT_OK;
    }
    if (berth__args_value(argc, argv, &i, "--expires", &v)) {
      expires = berth__args_duration("--expires", v, MIN_S, MAX_S, "90m, 12h, 7d");
      continue;
    }
    berth__args_unknown(argv[i]);
  }
  json_t *req = json_pack("{s:I}", "ExpiresInSeconds", (json_int_t)expires), *resp;
  berth_cli_error err;
  int rc = berth__control_call(cli, "Berth.CreateToken", req, &resp, &err);
  json_decref(req);
  if (rc) {
    berth__error_print(&err);
    return BERTH_EXIT_FAIL;
  }
  time_t at = (time_t)json_integer_value(json_object_get(resp, "Expiration"));
  struct tm tm;
  char when[32];
  gmtime_r(&at, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  /* stdout holds just the token, ready for $(berth token). */
  fprintf(stderr, "berth: token of access key %s, expires %s\n",
          berth__json_str(resp, "AccessKeyId", "?"), when);
  printf("%s\n", berth__json_str(resp, "Token", ""));
  json_decref(resp);
  return BERTH_EXIT_OK;
}
