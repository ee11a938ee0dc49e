/* cmd_keys: `berth keys create|list|delete`, Berth's access keys
 * (Berth.CreateAccessKey, ListAccessKeys, DeleteAccessKey). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "table.h"

static const char usage[] =
  "usage: berth keys create NAME --allow ACTIONS [--resource PATTERN]...\n"
  "       berth keys list\n"
  "       berth keys delete NAME\n"
  "\n"
  "An access key signs calls (AWS SigV4) and may do only what it allows.\n"
  "create prints the new key once, as credentials-file lines:\n"
  "  aws_access_key_id = ...\n"
  "  aws_secret_access_key = ...\n"
  "Berth keeps the secret sealed; it cannot be shown again.\n"
  "\n"
  "  --allow ACTIONS     comma-separated IAM-style actions (repeatable), '*' wildcards:\n"
  "                      sagemaker:InvokeEndpoint,sagemaker:InvokeEndpointWithResponseStream\n"
  "                      sagemaker:Describe*  application-autoscaling:*  cloudwatch:*  *\n"
  "  --resource PATTERN  an ARN glob the key may act on (repeatable; default *), e.g.\n"
  "                      arn:aws:sagemaker:*:*:endpoint/demo\n";

/* Appends the non-empty parts of a comma-separated list to out. */
static void split_list(json_t *out, const char *s) {
  while (*s) {
    size_t n = strcspn(s, ",");
    while (n && s[n - 1] == ' ') n--;
    if (n) json_array_append_new(out, json_stringn(s, n));
    s += strcspn(s, ",");
    if (*s == ',') s++;
    while (*s == ' ') s++;
  }
}

static char *joined(json_t *list) {
  static char out[1024];
  out[0] = '\0';
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    size_t n = strlen(out);
    snprintf(out + n, sizeof out - n, "%s%s", i ? "," : "", json_string_value(v) ?: "");
  }
  return out;
}

static int call(berth_cli *cli, const char *op, json_t *req, json_t **resp) {
  berth_cli_error err;
  int rc = berth__control_call(cli, op, req, resp, &err);
  json_decref(req);
  if (rc) berth__error_print(&err);
  return rc;
}

static int create(berth_cli *cli, int argc, char **argv) {
  const char *name = NULL, *v;
  json_t *resources = json_array(), *allow = json_array();
  for (int i = 0; i < argc; i++) {
    if (berth__args_value(argc, argv, &i, "--allow", &v)) {
      split_list(allow, v);
      continue;
    }
    if (berth__args_value(argc, argv, &i, "--resource", &v)) {
      json_array_append_new(resources, json_string(v));
      continue;
    }
    if (argv[i][0] == '-') berth__args_unknown(argv[i]);
    if (name) berth__usage_error("one key NAME at a time ('%s' and '%s')", name, argv[i]);
    name = argv[i];
  }
  if (!name) berth__usage_error("keys create needs a NAME");
  if (!json_array_size(allow))
    berth__usage_error("keys create needs --allow ACTIONS (e.g. sagemaker:InvokeEndpoint)");
  json_t *req = json_pack("{s:s,s:o}", "Name", name, "Allow", allow);
  if (json_array_size(resources)) json_object_set(req, "Resources", resources);
  json_decref(resources);
  json_t *resp;
  if (call(cli, "Berth.CreateAccessKey", req, &resp)) return BERTH_EXIT_FAIL;
  json_t *k = json_object_get(resp, "AccessKey");
  /* stdout holds just the two lines, ready for a credentials file. */
  fprintf(stderr, "berth: access key %s: allow %s", name, joined(json_object_get(k, "Allow")));
  fprintf(stderr, " on %s (the secret is shown only now)\n",
          joined(json_object_get(k, "Resources")));
  printf("aws_access_key_id = %s\naws_secret_access_key = %s\n",
         berth__json_str(k, "AccessKeyId", ""), berth__json_str(k, "SecretAccessKey", ""));
  json_decref(resp);
  return BERTH_EXIT_OK;
}

static int list(berth_cli *cli, int argc, char **argv) {
  if (argc) berth__args_unknown(argv[0]);
  json_t *resp;
  if (call(cli, "Berth.ListAccessKeys", json_object(), &resp)) return BERTH_EXIT_FAIL;
  static const char *const header[] = {"NAME", "ACCESS KEY ID", "ALLOW", "RESOURCES"};
  berth_table t;
  berth__table_init(&t, 4, header);
  size_t i;
  json_t *k;
  json_array_foreach(json_object_get(resp, "AccessKeys"), i, k) {
    char allow[1024];
    snprintf(allow, sizeof allow, "%s", joined(json_object_get(k, "Allow")));
    const char *cells[] = {berth__json_str(k, "Name", "?"), berth__json_str(k, "AccessKeyId", "?"),
                           allow, joined(json_object_get(k, "Resources"))};
    berth__table_add(&t, cells);
  }
  berth__table_print(&t, stdout);
  berth__table_free(&t);
  json_decref(resp);
  return BERTH_EXIT_OK;
}

static int delete(berth_cli *cli, int argc, char **argv) {
  if (argc != 1 || argv[0][0] == '-') berth__usage_error("keys delete needs exactly one NAME");
  json_t *resp;
  if (call(cli, "Berth.DeleteAccessKey", json_pack("{s:s}", "Name", argv[0]), &resp))
    return BERTH_EXIT_FAIL;
  json_decref(resp);
  printf("deleted access key %s\n", argv[0]);
  return BERTH_EXIT_OK;
}

int berth__cmd_keys(berth_cli *cli, int argc, char **argv) {
  if (argc < 1 || berth__args_is_help(argv[0])) {
    fputs(usage, argc < 1 ? stderr : stdout);
    return argc < 1 ? BERTH_EXIT_USAGE : BERTH_EXIT_OK;
  }
  for (int i = 1; i < argc; i++)
    if (berth__args_is_help(argv[i])) {
      fputs(usage, stdout);
      return BERTH_EXIT_OK;
    }
  if (strcmp(argv[0], "create") == 0) return create(cli, argc - 1, argv + 1);
  if (strcmp(argv[0], "list") == 0) return list(cli, argc - 1, argv + 1);
  if (strcmp(argv[0], "delete") == 0) return delete(cli, argc - 1, argv + 1);
  berth__usage_error("keys: unknown subcommand '%s' (create, list or delete)", argv[0]);
}
