/* Unit tests for store: changes queued on the loop are committed in order
 * off it, store_sync reports when they are durable, a reopened store sees
 * exactly what was synced, and the queue's bound refuses instead of
 * growing. */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static int synced, sync_rc = -1, sync_calls;

static void on_sync(void *ud, int rc) {
  (void)ud;
  synced = 1;
  sync_rc = rc;
  sync_calls++;
}

static int count_docs(const char *name, json_t *doc, void *ud) {
  (void)name;
  (void)doc;
  (*(int *)ud)++;
  return 0;
}

static int find_value(const char *name, json_t *doc, void *ud) {
  json_t *out = ud;
  json_object_set(out, name, json_object_get(doc, "v"));
  return 0;
}

int main(void) {
  char dir[] = "/tmp/berth-test-store-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  uv_loop_t *loop = uv_default_loop();
  char err[256];
  store *s = NULL;
  CHECK_INT(store_open(loop, NULL, dir, &s, err, sizeof err), 0);

  /* Many changes, then one barrier: it fires once, from the loop. */
  uint64_t w0 = store_writes(s);
  for (int i = 0; i < 1000; i++) {
    char name[32];
    snprintf(name, sizeof name, "ic-%d", i);
    json_t *doc = json_pack("{s:i}", "v", i);
    CHECK_INT(store_put(s, "inference-component", name, doc), 0);
    json_decref(doc);
  }
  json_t *doc = json_pack("{s:i}", "v", 2);
  CHECK_INT(store_put(s, "endpoint", "a", doc), 0);
  json_decref(doc);
  CHECK_INT(store_delete(s, "inference-component", "ic-7"), 0);
  CHECK_INT(store_writes(s) - w0, 1002);
  store_sync(s, on_sync, NULL);
  CHECK_INT(synced, 0); /* never from inside store_sync */
  while (!synced) uv_run(loop, UV_RUN_ONCE);
  CHECK_INT(sync_rc, 0);
  CHECK_INT(sync_calls, 1);

  /* The bound: queued faster than committed, writes are refused past it. */
  size_t big = 1u << 20;
  char *text = malloc(big + 1);
  memset(text, 'x', big);
  text[big] = '\0';
  json_t *large = json_pack("{s:s}", "blob", text);
  int refused = 0;
  for (int i = 0; i < 200 && !refused; i++) {
    char name[32];
    snprintf(name, sizeof name, "big-%d", i);
    int rc = store_put(s, "model", name, large);
    if (rc == -ENOBUFS) refused = 1;
    else CHECK_INT(rc, 0);
  }
  CHECK(refused);
  json_decref(large);
  free(text);
  /* Later changes still go in order after those: the last value wins. */
  doc = json_pack("{s:i}", "v", 3);
  CHECK_INT(store_put(s, "endpoint", "a", doc), 0);
  json_decref(doc);
  store_close(s); /* commits what is queued */

  CHECK_INT(store_open(loop, NULL, dir, &s, err, sizeof err), 0);
  int n = 0;
  CHECK_INT(store_each(s, "inference-component", count_docs, &n), 0);
  CHECK_INT(n, 999);
  json_t *vals = json_object();
  CHECK_INT(store_each(s, "endpoint", find_value, vals), 0);
  CHECK_INT(json_integer_value(json_object_get(vals, "a")), 3);
  json_decref(vals);
  store_close(s);

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_INT(system(cmd), 0);
  uv_loop_close(loop);
  CHECK_DONE();
}
