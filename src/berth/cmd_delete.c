/* cmd_delete: `berth delete`, removing inference components or an endpoint.
 *
 * Deleting an endpoint also deletes the endpoint config it names. With
 * --force its inference components are deleted first and waited for, since
 * berthd (like SageMaker) refuses to delete an endpoint that still hosts
 * inference components. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "wait.h"

static const char delete_usage[] =
  "usage: berth delete IC [IC...]\n"
  "       berth delete --endpoint EP [--force] [--wait-timeout S]\n"
  "\n"
  "Deletes inference components, or endpoint EP and its endpoint config.\n"
  "\n"
  "  --endpoint EP      delete endpoint EP and the endpoint config it uses\n"
  "  --force            first delete EP's inference components and wait for them\n"
  "  --wait-timeout S   give up waiting after S seconds (default 600)\n";

/* Calls `op` on `req` (stolen), dropping the response. */
static int call(berth_cli *cli, const char *op, json_t *req, berth_cli_error *err) {
  json_t *resp = NULL;
  int rc = berth__control_call(cli, op, req, &resp, err);
  json_decref(req);
  json_decref(resp);
  return rc;
}

static int delete_ics(berth_cli *cli, int n, char **ics) {
  int exit_code = BERTH_EXIT_OK;
  berth_cli_error err;
  for (int i = 0; i < n; i++) {
    if (call(cli, "DeleteInferenceComponent",
             json_pack("{s:s}", "InferenceComponentName", ics[i]), &err) != 0) {
      berth__error_print(&err);
      exit_code = BERTH_EXIT_FAIL;
      continue;
    }
    printf("deleting %s\n", ics[i]);
  }
  return exit_code;
}

/* Deletes every inference component on `endpoint` and waits until they are
 * gone. */
static int delete_endpoint_ics(berth_cli *cli, const char *endpoint, double start,
                               double deadline) {
  berth_cli_error err;
  json_t *items = NULL;
  json_t *filter = json_pack("{s:s}", "EndpointNameEquals", endpoint);
  int rc = berth__control_list(cli, "ListInferenceComponents", filter,
                               "InferenceComponents", &items, &err);
  json_decref(filter);
  if (rc != 0) {
    berth__error_print(&err);
    return -1;
  }
  size_t n = json_array_size(items), count = 0;
  const char **names = berth_xcalloc(n ? n : 1, sizeof *names);
  size_t i;
  json_t *item;
  rc = 0;
  json_array_foreach(items, i, item) {
    const char *name = berth__json_str(item, "InferenceComponentName", NULL);
    /* A list may include other endpoints' components if the filter is ignored. */
    if (!name || strcmp(berth__json_str(item, "EndpointName", endpoint), endpoint) != 0)
      continue;
    names[count++] = name;
    if (strcmp(berth__json_str(item, "InferenceComponentStatus", ""), "Deleting") == 0)
      continue;
    if (call(cli, "DeleteInferenceComponent",
             json_pack("{s:s}", "InferenceComponentName", name), &err) != 0 &&
        !berth__error_not_found(&err)) {
      berth__error_print(&err);
      rc = -1;
      break;
    }
    printf("deleting %s\n", name);
  }
  fflush(stdout);
  if (rc == 0 && count)
    rc = berth__wait_ics_gone(cli, names, count, endpoint, start, deadline);
  free(names);
  json_decref(items);
  return rc;
}

/* Deletes endpoint config `config`, retrying while the server still counts
 * the endpoint being deleted as a user of it. */
static int delete_config(berth_cli *cli, const char *config, double deadline) {
  berth_cli_error err;
  for (;;) {
    if (call(cli, "DeleteEndpointConfig",
             json_pack("{s:s}", "EndpointConfigName", config), &err) == 0)
      return 0;
    if (berth__error_not_found(&err)) return 0;
    bool busy = berth__error_is(&err, "ResourceInUse") ||
                berth__error_is(&err, "ConflictException");
    if (!busy || berth__now() >= deadline) {
      berth__error_print(&err);
      return -1;
    }
    struct timespec ts = {0, (long)(BERTH_POLL_INTERVAL_S * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static int delete_endpoint(berth_cli *cli, const char *endpoint, bool force,
                           long wait_timeout) {
  berth_cli_error err;
  double start = berth__now();
  double deadline = start + (double)wait_timeout;
  json_t *ep = NULL;
  json_t *req = json_pack("{s:s}", "EndpointName", endpoint);
  int rc = berth__control_call(cli, "DescribeEndpoint", req, &ep, &err);
  json_decref(req);
  if (rc != 0) {
    berth__error_print(&err);
    return BERTH_EXIT_FAIL;
  }
  char *config = berth_xstrdup(berth__json_str(ep, "EndpointConfigName", ""));
  json_decref(ep);
  int exit_code = BERTH_EXIT_FAIL;

  if (force && delete_endpoint_ics(cli, endpoint, start, deadline) != 0) goto out;
  if (call(cli, "DeleteEndpoint", json_pack("{s:s}", "EndpointName", endpoint), &err) != 0) {
    if (berth__error_is(&err, "ResourceInUse")) {
      size_t n = strlen(err.message);
      snprintf(err.message + n, sizeof err.message - n,
               " (delete its inference components first, or use --force)");
    }
    berth__error_print(&err);
    goto out;
  }
  printf("deleting endpoint %s\n", endpoint);
  fflush(stdout);
  if (*config) {
    if (delete_config(cli, config, deadline) != 0) goto out;
    printf("deleted endpoint config %s\n", config);
  }
  exit_code = BERTH_EXIT_OK;
out:
  free(config);
  return exit_code;
}

int berth__cmd_delete(berth_cli *cli, int argc, char **argv) {
  const char *endpoint = NULL, *v;
  bool force = false;
  long wait_timeout = 600;
  char **ics = berth_xcalloc((size_t)argc + 1, sizeof *ics);
  int nics = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (berth__args_is_help(a)) {
      fputs(delete_usage, stdout);
      free(ics);
      return BERTH_EXIT_OK;
    } else if (berth__args_value(argc, argv, &i, "--endpoint", &v)) {
      endpoint = v;
    } else if (strcmp(a, "--force") == 0) {
      force = true;
    } else if (berth__args_value(argc, argv, &i, "--wait-timeout", &v)) {
      wait_timeout = berth__args_long("--wait-timeout", v, 1, 7L * 24 * 3600);
    } else if (a[0] == '-') {
      berth__args_unknown(a);
    } else {
      ics[nics++] = argv[i];
    }
  }
  if (endpoint && nics)
    berth__usage_error("give inference components or --endpoint, not both");
  if (!endpoint && !nics)
    berth__usage_error("missing inference component names or --endpoint EP");
  if (force && !endpoint) berth__usage_error("--force goes with --endpoint");

  int exit_code = endpoint ? delete_endpoint(cli, endpoint, force, wait_timeout)
                           : delete_ics(cli, nics, ics);
  free(ics);
  return exit_code;
}
