/* test_metrics: a router's delta (metrics_take) travels as JSON and adds up
 * on the controller (metrics_merge) as if its requests ran there. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "metrics.h"

int main(void) {
  ic_metrics *router = metrics_new(100), *controller = metrics_new(100), *direct = metrics_new(100);
  for (int i = 0; i < 7; i++) {
    int status = i == 3 ? 424 : i == 5 ? 503 : i == 6 ? 400 : 200;
    metrics_invocation(router, status, 1000.0 + i, 50.0);
    metrics_invocation(direct, status, 1000.0 + i, 50.0);
  }
  metrics_no_capacity(router);
  metrics_no_capacity(direct);
  metrics_waited(router, 250.0);
  metrics_waited(direct, 250.0);
  ic_bucket d, again;
  metrics_take(router, &d);
  CHECK_INT(router->cur.s.invocations, 0); /* taken */
  json_t *wire = metrics_delta_json(&d);
  char *text = json_dumps(wire, JSON_COMPACT);
  json_t *back = json_loads(text, 0, NULL);
  metrics_delta_parse(back, &again);
  metrics_merge(controller, &again);
  const ic_bucket *c = &controller->cur, *x = &direct->cur;
  CHECK_INT(c->s.invocations, x->s.invocations);
  CHECK_INT(c->s.no_capacity, x->s.no_capacity);
  CHECK_INT(c->model_errors, x->model_errors);
  CHECK_INT(c->errors_4xx, x->errors_4xx);
  CHECK_INT(c->errors_5xx, x->errors_5xx);
  CHECK_INT(c->latency_n, x->latency_n);
  CHECK_INT(c->waited, x->waited);
  CHECK(fabs(c->model_latency_us - x->model_latency_us) < 1e-6);
  CHECK(fabs(c->overhead_latency_us - x->overhead_latency_us) < 1e-6);
  CHECK(fabs(c->wait_ms - x->wait_ms) < 1e-6);
  CHECK_INT(controller->acc_inv, direct->acc_inv);
  CHECK_INT(controller->total_model_errors, direct->total_model_errors);
  /* Garbage on the wire reads as nothing, not as huge counts. */
  json_t *bad = json_pack("[i,s,f]", -5, "x", 1e300);
  metrics_delta_parse(bad, &again);
  CHECK_INT(again.s.invocations, 0);
  CHECK_INT(again.s.no_capacity, 0);
  json_decref(bad);
  json_decref(back);
  json_decref(wire);
  free(text);
  metrics_free(router);
  metrics_free(controller);
  metrics_free(direct);
  CHECK_DONE();
}
