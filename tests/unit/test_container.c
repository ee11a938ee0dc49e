/* Unit tests for container: which Images are container references (and
 * which could pass for an engine option), and the engine command a copy
 * gets: limits through its cgroup or the engine's flags, devices, the
 * environment by name only, and nothing after `--` read as an option. */
#include "container.h"

#include <errno.h>
#include <string.h>

#include "check.h"

/* The index of word in argv, or -1. */
static int find(char **argv, const char *word) {
  for (int i = 0; argv[i]; i++)
    if (strcmp(argv[i], word) == 0) return i;
  return -1;
}

int main(void) {
  static const struct {
    const char *image;
    int is_image, ok;
  } refs[] = {
    {"localhost/berth-model:1", 1, 0},
    {"123456789012.dkr.ecr.us-east-1.amazonaws.com/llm:latest", 1, 0},
    {"docker.io/vllm/vllm-openai:v0.6.3", 1, 0},
    {"127.0.0.1:5000/m@sha256:0123abcd", 1, 0},
    {"berth-model", 0, 0},
    {"/usr/bin/serve --port 1", 0, 0},
    {"--privileged", 1, -EINVAL},
    {"-v", 1, -EINVAL},
    {"--volume=/:/host", 1, -EINVAL},
    {"img;rm", 1, -EINVAL},
    {"a//b", 1, -EINVAL},
    {"a/../b", 1, -EINVAL},
    {"serve.py --port 8080", 0, 0},
  };
  for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) {
    CHECK_INT(container_is_image(refs[i].image), refs[i].is_image);
    char why[600];
    if (refs[i].is_image) {
      CHECK_INT(container_reference_check(refs[i].image, why, sizeof why), refs[i].ok);
      if (refs[i].ok) CHECK(strstr(why, refs[i].image) && strstr(why, "letter or digit"));
    }
  }

  container_engine e = {.path = "/usr/bin/podman", .name = "podman", .runc = 1};
  int devs[] = {4, 5};
  char *names[] = {"BERTH_MODEL_ID", "HF_TOKEN", NULL};
  char *args[] = {"--model", "/opt/ml/model", NULL};
  container_spec s = {
      .image = "localhost/berth-model:1", .name = "berth-agent-1-7", .model_dir = "/cache/m",
      .cgroup_parent = "/berth/agent-1/copy-7", .cpus = "2", .memory_mb = 512,
      .devices = devs, .n_devices = 2, .bind_host = "127.0.0.1", .port = 40000,
      .args = args, .env_names = names,
      .labels = {{"berth.endpoint", "ep"}, {"berth.inference-component", "ic"},
                 {"berth.copy", "7"}, {"berth.agent", "agent-1"}}};
  char *argv[128], buf[8192];
  int n = container_command(&e, &s, argv, 128, buf, sizeof buf);
  CHECK(n > 0);
  CHECK_STR(argv[0], "/usr/bin/podman");
  CHECK_STR(argv[1], "--runtime=runc");
  CHECK_STR(argv[2], "run");
  CHECK(find(argv, "--network=host") > 0);
  CHECK(find(argv, "--cgroup-parent=/berth/agent-1/copy-7") > 0);
  /* The cgroup holds the limits: the engine sets none of its own. */
  CHECK(find(argv, "--cpuset-cpus=2") < 0);
  CHECK(find(argv, "--memory=512m") < 0);
  CHECK(find(argv, "--volume=/cache/m:/opt/ml/model:ro") > 0);
  CHECK(find(argv, "--env=HF_TOKEN") > 0); /* by name: no value on the line */
  CHECK(find(argv, "--env=CUDA_VISIBLE_DEVICES=0,1") > 0);
  CHECK(find(argv, "--device=/dev/nvidia4") > 0 || find(argv, "--device=nvidia.com/gpu=4") > 0);
  CHECK(find(argv, "--label=berth.agent=agent-1") > 0);
  int dashes = find(argv, "--");
  CHECK(dashes > 0);
  CHECK_STR(argv[dashes + 1], "localhost/berth-model:1");
  CHECK_STR(argv[dashes + 2], "--model");
  CHECK_STR(argv[dashes + 3], "/opt/ml/model");
  CHECK(argv[dashes + 4] == NULL);

  /* No cgroup: the engine applies the cores and the memory limit. CDI
   * names the physical devices. */
  s.cgroup_parent = NULL;
  s.args = NULL;
  e.cdi = 1;
  n = container_command(&e, &s, argv, 128, buf, sizeof buf);
  CHECK(n > 0);
  CHECK(find(argv, "--cpuset-cpus=2") > 0);
  CHECK(find(argv, "--memory=512m") > 0);
  CHECK(find(argv, "--memory-swap=512m") > 0);
  CHECK(find(argv, "--device=nvidia.com/gpu=5") > 0);
  CHECK_STR(argv[n - 1], "serve");

  /* A published port instead of the host's network. */
  s.container_port = 8080;
  n = container_command(&e, &s, argv, 128, buf, sizeof buf);
  CHECK(find(argv, "--publish=127.0.0.1:40000:8080") > 0);
  CHECK(find(argv, "--network=host") < 0);

  /* Too small a buffer is an error, never a cut command line. */
  CHECK_INT(container_command(&e, &s, argv, 128, buf, 100), -E2BIG);
  CHECK_INT(container_command(&e, &s, argv, 8, buf, sizeof buf), -E2BIG);
  CHECK_DONE();
}
