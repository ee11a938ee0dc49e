/* cmd_list: `berth endpoints` and `berth ics`, the listing commands.
 *
 * Both list every page of the List* operation and describe each item, since
 * the list shapes lack instance and copy counts. An item deleted between the
 * list and the describe is skipped rather than reported as an error. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "table.h"

static const char endpoints_usage[] =
  "usage: berth endpoints\n"
  "\n"
  "Lists endpoints: NAME, STATUS, INSTANCE-TYPE, INSTANCES (current/desired)\n"
  "and CREATED (local time).\n";

static const char ics_usage[] =
  "usage: berth ics [--endpoint EP]\n"
  "\n"
  "Lists inference components: NAME, ENDPOINT, STATUS, COPIES (current/desired)\n"
  "and CREATED (local time), with a 'reason:' line under any that has a\n"
  "failure reason and a 'status:' line under one whose copy is still starting\n"
  "(its Image being pulled).\n"
  "\n"
  "  --endpoint EP   only the inference components on endpoint EP\n";

/* "3" for a count member, "-" when absent. */
static void fmt_count(char *out, size_t n, double v) {
  if (v < 0)
    snprintf(out, n, "-");
  else
    snprintf(out, n, "%.0f", v);
}

/* Instance type of `variant` from endpoint config `config`; NULL if unknown.
 * The result lives in *desc, which the caller frees. */
static const char *config_instance_type(berth_cli *cli, const char *config,
                                        const char *variant, json_t **desc) {
  berth_cli_error err;
  json_t *req = json_pack("{s:s}", "EndpointConfigName", config);
  int rc = berth__control_call(cli, "DescribeEndpointConfig", req, desc, &err);
  json_decref(req);
  if (rc != 0) return NULL;
  size_t i;
  json_t *pv;
  json_array_foreach(json_object_get(*desc, "ProductionVariants"), i, pv) {
    if (!variant || strcmp(berth__json_str(pv, "VariantName", ""), variant) == 0)
      return berth__json_str(pv, "InstanceType", NULL);
  }
  return NULL;
}

int berth__cmd_endpoints(berth_cli *cli, int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (berth__args_is_help(argv[i])) {
      fputs(endpoints_usage, stdout);
      return BERTH_EXIT_OK;
    }
    berth__args_unknown(argv[i]);
  }

  berth_cli_error err;
  json_t *items = NULL;
  if (berth__control_list(cli, "ListEndpoints", NULL, "Endpoints", &items, &err) != 0) {
    berth__error_print(&err);
    return BERTH_EXIT_FAIL;
  }

  static const char *const header[] = {"NAME", "STATUS", "INSTANCE-TYPE", "INSTANCES",
                                       "CREATED"};
  berth_table t;
  berth__table_init(&t, 5, header);
  int exit_code = BERTH_EXIT_OK;
  size_t idx;
  json_t *item;
  json_array_foreach(items, idx, item) {
    const char *name = berth__json_str(item, "EndpointName", NULL);
    if (!name) continue;
    json_t *req = json_pack("{s:s}", "EndpointName", name);
    json_t *ep = NULL, *cfg = NULL;
    int rc = berth__control_call(cli, "DescribeEndpoint", req, &ep, &err);
    json_decref(req);
    if (rc != 0) {
      if (berth__error_not_found(&err)) continue;
      berth__error_print(&err);
      exit_code = BERTH_EXIT_FAIL;
      break;
    }

    /* Sum counts over variants; Berth endpoints have one, "AllTraffic". */
    double cur = -1, want = -1;
    const char *type = NULL, *first_variant = NULL;
    size_t i;
    json_t *pv;
    json_array_foreach(json_object_get(ep, "ProductionVariants"), i, pv) {
      double c = berth__json_num(pv, "CurrentInstanceCount", -1);
      double d = berth__json_num(pv, "DesiredInstanceCount", -1);
      if (c >= 0) cur = (cur < 0 ? 0 : cur) + c;
      if (d >= 0) want = (want < 0 ? 0 : want) + d;
      if (!first_variant) first_variant = berth__json_str(pv, "VariantName", NULL);
      if (!type) type = berth__json_str(pv, "InstanceType", NULL);
    }
    const char *config = berth__json_str(ep, "EndpointConfigName", NULL);
    if (!type && config) type = config_instance_type(cli, config, first_variant, &cfg);

    char cur_s[32], want_s[32], instances[80], created[64];
    fmt_count(cur_s, sizeof cur_s, cur);
    fmt_count(want_s, sizeof want_s, want);
    snprintf(instances, sizeof instances, "%s/%s", cur_s, want_s);
    berth__json_time(json_object_get(ep, "CreationTime") ? ep : item, "CreationTime",
                     created, sizeof created);
    const char *status = berth__json_str(ep, "EndpointStatus",
                                         berth__json_str(item, "EndpointStatus", NULL));
    const char *row[] = {name, status, type, instances, created};
    berth__table_add(&t, row);
    const char *reason = berth__json_str(ep, "FailureReason", NULL);
    if (reason && *reason) {
      char note[2048];
      snprintf(note, sizeof note, "  reason: %s", reason);
      berth__table_note(&t, note);
    }
    json_decref(cfg);
    json_decref(ep);
  }
  if (exit_code == BERTH_EXIT_OK) {
    if (berth__table_rows(&t))
      berth__table_print(&t, stdout);
    else
      puts("no endpoints");
  }
  berth__table_free(&t);
  json_decref(items);
  return exit_code;
}

int berth__cmd_ics(berth_cli *cli, int argc, char **argv) {
  const char *endpoint = NULL;
  for (int i = 0; i < argc; i++) {
    if (berth__args_is_help(argv[i])) {
      fputs(ics_usage, stdout);
      return BERTH_EXIT_OK;
    }
    if (berth__args_value(argc, argv, &i, "--endpoint", &endpoint)) continue;
    berth__args_unknown(argv[i]);
  }

  berth_cli_error err;
  json_t *items = NULL;
  json_t *filter = json_object();
  if (endpoint) json_object_set_new(filter, "EndpointNameEquals", json_string(endpoint));
  int rc = berth__control_list(cli, "ListInferenceComponents", filter,
                               "InferenceComponents", &items, &err);
  json_decref(filter);
  if (rc != 0) {
    berth__error_print(&err);
    return BERTH_EXIT_FAIL;
  }

  static const char *const header[] = {"NAME", "ENDPOINT", "STATUS", "COPIES", "CREATED"};
  berth_table t;
  berth__table_init(&t, 5, header);
  int exit_code = BERTH_EXIT_OK;
  size_t idx;
  json_t *item;
  json_array_foreach(items, idx, item) {
    const char *name = berth__json_str(item, "InferenceComponentName", NULL);
    if (!name) continue;
    json_t *req = json_pack("{s:s}", "InferenceComponentName", name);
    json_t *d = NULL;
    rc = berth__control_call(cli, "DescribeInferenceComponent", req, &d, &err);
    json_decref(req);
    if (rc != 0) {
      if (berth__error_not_found(&err)) continue;
      berth__error_print(&err);
      exit_code = BERTH_EXIT_FAIL;
      break;
    }
    const json_t *rt = json_object_get(d, "RuntimeConfig");
    char cur_s[32], want_s[32], copies[80], created[64];
    fmt_count(cur_s, sizeof cur_s, berth__json_num(rt, "CurrentCopyCount", -1));
    fmt_count(want_s, sizeof want_s, berth__json_num(rt, "DesiredCopyCount", -1));
    snprintf(copies, sizeof copies, "%s/%s", cur_s, want_s);
    /* Sleeping copies are current copies that wake on the next request. */
    double asleep = berth__json_num(rt, "BerthSleepingCopyCount", 0);
    if (asleep >= 1)
      snprintf(copies + strlen(copies), sizeof copies - strlen(copies), " (%.0f asleep)", asleep);
    berth__json_time(json_object_get(d, "CreationTime") ? d : item, "CreationTime",
                     created, sizeof created);
    const char *row[] = {
      name,
      berth__json_str(d, "EndpointName", berth__json_str(item, "EndpointName", NULL)),
      berth__json_str(d, "InferenceComponentStatus",
                      berth__json_str(item, "InferenceComponentStatus", NULL)),
      copies,
      created,
    };
    berth__table_add(&t, row);
    const char *reason = berth__json_str(d, "FailureReason", NULL);
    if (reason && *reason) {
      char note[2048];
      snprintf(note, sizeof note, "  reason: %s", reason);
      berth__table_note(&t, note);
    }
    const char *status = berth__json_str(d, "StatusMessage", NULL);
    if (status && *status) {
      char note[512];
      snprintf(note, sizeof note, "  status: %s", status);
      berth__table_note(&t, note);
    }
    json_decref(d);
  }
  if (exit_code == BERTH_EXIT_OK) {
    if (berth__table_rows(&t))
      berth__table_print(&t, stdout);
    else if (endpoint)
      printf("no inference components on endpoint %s\n", endpoint);
    else
      puts("no inference components");
  }
  berth__table_free(&t);
  json_decref(items);
  return exit_code;
}
