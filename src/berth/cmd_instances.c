/* cmd_instances: `berth instances`, each instance with a text bar per
 * resource showing the share its copies reserve (Berth.DescribeInstances). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"

static const char usage[] =
  "usage: berth instances [--endpoint EP]\n"
  "\n"
  "Shows each instance (local or joined from the pool): its endpoint, type,\n"
  "state and copies, with a bar per resource for the share reserved by its\n"
  "copies, then each endpoint's CPU, memory and accelerator reservation.\n"
  "\n"
  "  --endpoint EP   only the instances of endpoint EP\n"
  "  --revoke ID     revoke the pool agent of instance ID: its token is refused\n"
  "                  from now on and its copies are placed elsewhere\n";

#define BAR_WIDTH 30

static void bar(const char *label, double used, double cap, const char *unit) {
  if (cap <= 0) return;
  double share = used / cap;
  if (share > 1) share = 1;
  int fill = (int)(share * BAR_WIDTH + 0.5);
  char b[BAR_WIDTH + 1];
  for (int i = 0; i < BAR_WIDTH; i++) b[i] = i < fill ? '#' : '.';
  b[BAR_WIDTH] = '\0';
  printf("    %-4s [%s] %3.0f%%  %g/%g %s\n", label, b, share * 100, used, cap, unit);
}

int berth__cmd_instances(berth_cli *cli, int argc, char **argv) {
  const char *endpoint = NULL;
  for (int i = 0; i < argc; i++) {
    if (berth__args_is_help(argv[i])) {
      fputs(usage, stdout);
      return BERTH_EXIT_OK;
    }
    if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc) {
      endpoint = argv[++i];
      continue;
    }
    if (strcmp(argv[i], "--revoke") == 0 && i + 1 < argc) {
      long id = berth__args_long("--revoke", argv[++i], 1, 1L << 53);
      json_t *req = json_pack("{s:I}", "InstanceId", (json_int_t)id), *resp = NULL;
      berth_cli_error err;
      int rc = berth__control_call(cli, "Berth.RevokeAgent", req, &resp, &err);
      json_decref(req);
      if (rc != 0) {
        berth__error_print(&err);
        return BERTH_EXIT_FAIL;
      }
      printf("revoked agent %s (instance %ld)\n", berth__json_str(resp, "AgentId", "?"), id);
      json_decref(resp);
      return BERTH_EXIT_OK;
    }
    berth__args_unknown(argv[i]);
  }
  json_t *req = endpoint ? json_pack("{s:s}", "EndpointName", endpoint) : json_object();
  json_t *resp = NULL;
  berth_cli_error err;
  int rc = berth__control_call(cli, "Berth.DescribeInstances", req, &resp, &err);
  json_decref(req);
  if (rc != 0) {
    berth__error_print(&err);
    return BERTH_EXIT_FAIL;
  }
  json_t *list = json_object_get(resp, "Instances");
  if (json_array_size(list) == 0) printf("no instances\n");
  size_t i;
  json_t *in;
  json_array_foreach(list, i, in) {
    const char *ep = berth__json_str(in, "EndpointName", "");
    const char *runtime = berth__json_str(in, "ContainerRuntime", "");
    printf("%s  %s  %s  %s  %s%s%s\n", berth__json_str(in, "InstanceId", "?"),
           ep[0] ? ep : "(free)", berth__json_str(in, "InstanceType", "?"),
           berth__json_str(in, "State", "?"), berth__json_str(in, "Address", ""),
           runtime[0] ? "  images: " : "", runtime);
    json_t *devs = json_object_get(in, "AcceleratorDevices");
    if (json_array_size(devs)) {
      printf("    devices:");
      size_t d;
      json_t *dv;
      json_array_foreach(devs, d, dv) printf(" %lld", (long long)json_integer_value(dv));
      printf("\n");
    }
    json_t *cap = json_object_get(in, "Capacity"), *res = json_object_get(in, "Reserved");
    bar("cpu", berth__json_num(res, "CpuMillicores", 0) / 1000,
        berth__json_num(cap, "CpuMillicores", 0) / 1000, "cores");
    bar("mem", berth__json_num(res, "MemoryMb", 0), berth__json_num(cap, "MemoryMb", 0), "MiB");
    bar("gpu", berth__json_num(res, "AcceleratorDevices", 0),
        berth__json_num(cap, "AcceleratorDevices", 0), "devices");
    size_t k;
    json_t *cp;
    json_t *copies = json_object_get(in, "Copies");
    if (json_array_size(copies)) printf("    copies:");
    json_array_foreach(copies, k, cp)
      printf(" %s#%.0f(%s)", berth__json_str(cp, "InferenceComponentName", "?"),
             berth__json_num(cp, "CopyId", 0), berth__json_str(cp, "State", "?"));
    if (json_array_size(copies)) printf("\n");
  }
  json_t *eps = json_object_get(resp, "Endpoints");
  json_array_foreach(eps, i, in)
    printf("endpoint %s: CPUReservation %.0f%%, MemoryReservation %.0f%%, GPUReservation %.0f%%\n",
           berth__json_str(in, "EndpointName", "?"), berth__json_num(in, "CPUReservation", 0),
           berth__json_num(in, "MemoryReservation", 0), berth__json_num(in, "GPUReservation", 0));
  json_decref(resp);
  return BERTH_EXIT_OK;
}
