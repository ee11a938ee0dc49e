/* client: HTTP calls from the berth client to berthd's control and runtime
 * APIs, error extraction, and small JSON helpers.
 *
 * DESIGN: one curl easy handle is reused for every call so the deploy and
 * scale polling loops keep one connection open. Responses are collected into
 * bounded buffers; an answer over the bound is an error, not a truncation.
 * Error names come from the JSON `__type` (which wins for JSON 1.1) and then
 * the `x-amzn-errortype` header, each stripped of namespace prefixes and
 * ":http://..." suffixes the way the AWS SDKs do. */
#include "client.h"
#include "credentials.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define CONNECT_TIMEOUT_MS 5000L
#define CONTROL_TIMEOUT_MS 120000L
#define INVOKE_TIMEOUT_MS 70000L
#define CONTROL_MAX_RESPONSE ((size_t)16 << 20)

/* One HTTP exchange's collected answer. */
typedef struct exchange {
  berth_buf *body;
  bool too_big;
  char errortype[128];  /* x-amzn-errortype, already stripped */
  long status;
} exchange;

void berth__error_set(berth_cli_error *err, const char *fmt, ...) {
  va_list ap;
  err->type[0] = '\0';
  err->status = 0;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

void berth__error_print(const berth_cli_error *err) {
  if (err->type[0])
    fprintf(stderr, "berth: %s: %s\n", err->type, err->message);
  else
    fprintf(stderr, "berth: %s\n", err->message);
}

bool berth__error_is(const berth_cli_error *err, const char *type) {
  return strcmp(err->type, type) == 0;
}

bool berth__error_not_found(const berth_cli_error *err) {
  if (berth__error_is(err, "ResourceNotFound") ||
      berth__error_is(err, "ResourceNotFoundException"))
    return true;
  return berth__error_is(err, "ValidationException") &&
         strstr(err->message, "Could not find") != NULL;
}

/* Copies an error name, dropping "ns#" prefixes and ":url" suffixes. */
static void copy_error_name(char *dst, size_t n, const char *src, size_t len) {
  const char *hash = memchr(src, '#', len);
  if (hash) {
    len -= (size_t)(hash + 1 - src);
    src = hash + 1;
  }
  const char *colon = memchr(src, ':', len);
  if (colon) len = (size_t)(colon - src);
  while (len && (src[len - 1] == ' ' || src[len - 1] == '\r' || src[len - 1] == '\n'))
    len--;
  if (len >= n) len = n - 1;
  memcpy(dst, src, len);
  dst[len] = '\0';
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
  exchange *ex = userdata;
  size_t n = size * nmemb;
  if (berth_buf_append(ex->body, ptr, n) != 0) {
    ex->too_big = true;
    return 0;  /* makes curl stop with CURLE_WRITE_ERROR */
  }
  return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata) {
  exchange *ex = userdata;
  size_t n = size * nmemb;
  static const char name[] = "x-amzn-errortype:";
  size_t nl = sizeof name - 1;
  if (n > nl && strncasecmp(ptr, name, nl) == 0) {
    const char *v = ptr + nl;
    size_t vl = n - nl;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    copy_error_name(ex->errortype, sizeof ex->errortype, v, vl);
  }
  return n;
}

/* Explains a transport failure for `api` ("control API") at `url`. */
static void transport_error(CURL *curl, CURLcode rc, const char *errbuf,
                            const char *api, const char *url, long timeout_ms,
                            berth_cli_error *err) {
  long os_errno = 0;
  curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
    berth__error_set(err, "cannot reach the %s at %s: %s (is berthd running?)",
                     api, url, os_errno ? strerror((int)os_errno) : "connection failed");
    break;
  case CURLE_COULDNT_RESOLVE_HOST:
    berth__error_set(err, "cannot reach the %s at %s: unknown host (check the URL)",
                     api, url);
    break;
  case CURLE_OPERATION_TIMEDOUT:
    berth__error_set(err, "the %s at %s did not answer within %ld s", api, url,
                     timeout_ms / 1000);
    break;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    berth__error_set(err, "bad %s URL '%s' (expected http://HOST:PORT)", api, url);
    break;
  default:
    berth__error_set(err, "request to the %s at %s failed: %s", api, url,
                     errbuf[0] ? errbuf : curl_easy_strerror(rc));
    break;
  }
}

/* POSTs `data` to `url` and collects the answer into `ex`. Returns 0 when an
 * HTTP answer arrived (any status), -1 with *err filled otherwise. */
static int post(berth_cli *cli, const char *api, const char *service, const char *base_url,
                const char *url, struct curl_slist *headers, const char *data,
                size_t len, long timeout_ms, exchange *ex, berth_cli_error *err) {
  CURL *curl = cli->curl;
  char errbuf[CURL_ERROR_SIZE] = "";
  if (!cli->access_key_id[0]) {
    char why[1024];
    if (berth__credentials_load(cli, why, sizeof why)) {
      berth__error_set(err, "%s", why);
      return -1;
    }
  }
  curl_easy_reset(curl);
  /* Every call is signed (SigV4) with the scope's service name. */
  char provider[160];
  snprintf(provider, sizeof provider, "aws:amz:%s:%s", cli->region, service);
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, provider);
  curl_easy_setopt(curl, CURLOPT_USERNAME, cli->access_key_id);
  curl_easy_setopt(curl, CURLOPT_PASSWORD, cli->secret_access_key);
  if (cli->ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, cli->ca_file);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, ex);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, ex);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "berth-cli");
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    if (ex->too_big)
      berth__error_set(err, "the %s at %s answered more than %zu bytes", api,
                       base_url, ex->body->max);
    else
      transport_error(curl, rc, errbuf, api, base_url, timeout_ms, err);
    return -1;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex->status);
  return 0;
}

/* Fills *err from a non-2xx answer. The error name comes from the JSON
 * body's __type and the x-amzn-errortype header, the header first when
 * `header_first` (REST JSON) and the body first otherwise (JSON 1.1), else
 * "HTTP <status>". The message is the body's message/Message, else the body
 * text itself. */
static void api_error(const exchange *ex, const json_t *body, bool header_first,
                      berth_cli_error *err) {
  const char *type = berth__json_str(body, "__type", "");
  err->status = ex->status;
  if (ex->errortype[0] && (header_first || !*type))
    snprintf(err->type, sizeof err->type, "%s", ex->errortype);
  else if (*type)
    copy_error_name(err->type, sizeof err->type, type, strlen(type));
  else
    snprintf(err->type, sizeof err->type, "HTTP %ld", ex->status);

  const char *msg = NULL;
  if (body) {
    msg = berth__json_str(body, "message", NULL);
    if (!msg) msg = berth__json_str(body, "Message", NULL);
  }
  if (msg) {
    snprintf(err->message, sizeof err->message, "%s", msg);
  } else if (ex->body->len) {
    /* Not our JSON: show the first line of whatever came back. */
    size_t n = strcspn(ex->body->data, "\r\n");
    if (n > 300) n = 300;
    snprintf(err->message, sizeof err->message, "%.*s", (int)n, ex->body->data);
  } else {
    snprintf(err->message, sizeof err->message, "the server answered HTTP %ld with no body",
             ex->status);
  }
}

int berth__control_call(berth_cli *cli, const char *op, json_t *req,
                        json_t **resp, berth_cli_error *err) {
  int rc = -1;
  char target[128];
  berth_buf body;
  berth_buf_init(&body, CONTROL_MAX_RESPONSE);
  exchange ex = {.body = &body};
  struct curl_slist *headers = NULL;
  char *data = json_dumps(req, JSON_COMPACT);
  json_t *parsed = NULL;

  *resp = NULL;
  if (!data) {
    berth__error_set(err, "cannot encode the %s request as JSON", op);
    goto out;
  }
  /* A bare operation is SageMaker's; "Service.Operation" names its service. */
  snprintf(target, sizeof target, "x-amz-target: %s%s", strchr(op, '.') ? "" : "SageMaker.", op);
  headers = curl_slist_append(headers, "content-type: application/x-amz-json-1.1");
  headers = curl_slist_append(headers, target);
  static const char *const signing[][2] = {{"AnyScaleFrontendService.", "application-autoscaling"},
                                           {"GraniteServiceVersion20100801.", "monitoring"},
                                           {"Logs_20140328.", "logs"}};
  const char *service = "sagemaker";
  for (size_t i = 0; i < sizeof signing / sizeof signing[0]; i++)
    if (strncmp(op, signing[i][0], strlen(signing[i][0])) == 0) service = signing[i][1];
  if (post(cli, "control API", service, cli->control_url, cli->control_url, headers, data,
           strlen(data), CONTROL_TIMEOUT_MS, &ex, err) != 0)
    goto out;

  if (body.len) {
    json_error_t jerr;
    parsed = json_loadb(body.data, body.len, 0, &jerr);
  }
  if (ex.status < 200 || ex.status > 299) {
    api_error(&ex, json_is_object(parsed) ? parsed : NULL, false, err);
    goto out;
  }
  if (!body.len) {
    parsed = json_object();
  } else if (!json_is_object(parsed)) {
    berth__error_set(err, "the control API at %s answered SageMaker.%s with something "
                     "that is not a JSON object (is %s really berthd?)",
                     cli->control_url, op, cli->control_url);
    goto out;
  }
  *resp = parsed;
  parsed = NULL;
  rc = 0;
out:
  json_decref(parsed);
  curl_slist_free_all(headers);
  free(data);
  berth_buf_free(&body);
  return rc;
}

int berth__control_list(berth_cli *cli, const char *op, const json_t *req,
                        const char *items_key, json_t **items, berth_cli_error *err) {
  json_t *all = json_array();
  json_t *page_req = req ? json_deep_copy(req) : json_object();
  /* A server that keeps handing out tokens must not loop us forever. */
  for (int page = 0; page < 10000; page++) {
    json_t *resp = NULL;
    json_object_set_new(page_req, "MaxResults", json_integer(100));
    if (berth__control_call(cli, op, page_req, &resp, err) != 0) {
      json_decref(page_req);
      json_decref(all);
      *items = NULL;
      return -1;
    }
    json_array_extend(all, json_object_get(resp, items_key));
    const char *token = berth__json_str(resp, "NextToken", NULL);
    if (!token || !*token) {
      json_decref(resp);
      break;
    }
    json_object_set_new(page_req, "NextToken", json_string(token));
    json_decref(resp);
  }
  json_decref(page_req);
  *items = all;
  return 0;
}

int berth__runtime_invoke(berth_cli *cli, const berth_invocation *inv,
                          berth_buf *out, berth_cli_error *err) {
  int rc = -1;
  struct curl_slist *headers = NULL;
  berth_buf url, line;
  berth_buf_init(&url, 0);
  berth_buf_init(&line, 0);
  exchange ex = {.body = out};
  json_t *parsed = NULL;
  char *name = curl_easy_escape(cli->curl, inv->endpoint, 0);

  if (!name) {
    berth__error_set(err, "cannot encode endpoint name '%s'", inv->endpoint);
    goto out;
  }
  size_t base = strlen(cli->runtime_url);
  while (base && cli->runtime_url[base - 1] == '/') base--;
  berth_buf_printf(&url, "%.*s/endpoints/%s/invocations", (int)base, cli->runtime_url, name);

  berth_buf_printf(&line, "Content-Type: %s", inv->content_type);
  headers = curl_slist_append(headers, line.data);
  if (inv->ic) {
    berth_buf_reset(&line);
    berth_buf_printf(&line, "X-Amzn-SageMaker-Inference-Component: %s", inv->ic);
    headers = curl_slist_append(headers, line.data);
  }
  if (inv->custom_attributes) {
    berth_buf_reset(&line);
    berth_buf_printf(&line, "X-Amzn-SageMaker-Custom-Attributes: %s", inv->custom_attributes);
    headers = curl_slist_append(headers, line.data);
  }
  if (post(cli, "runtime API", "sagemaker", cli->runtime_url, url.data, headers,
           inv->body_len ? inv->body : "", inv->body_len, INVOKE_TIMEOUT_MS, &ex, err) != 0)
    goto out;
  if (ex.status >= 200 && ex.status <= 299) {
    rc = 0;
    goto out;
  }

  json_error_t jerr;
  parsed = out->len ? json_loadb(out->data, out->len, 0, &jerr) : NULL;
  const json_t *obj = json_is_object(parsed) ? parsed : NULL;
  api_error(&ex, obj, true, err);
  if (obj && berth__json_str(obj, "OriginalMessage", NULL)) {
    size_t n = strlen(err->message);
    snprintf(err->message + n, sizeof err->message - n,
             " (model answered %.0f: %s)",
             berth__json_num(obj, "OriginalStatusCode", 0),
             berth__json_str(obj, "OriginalMessage", ""));
  }
out:
  json_decref(parsed);
  curl_slist_free_all(headers);
  curl_free(name);
  berth_buf_free(&url);
  berth_buf_free(&line);
  return rc;
}

const char *berth__json_str(const json_t *obj, const char *key, const char *dflt) {
  const json_t *v = obj ? json_object_get(obj, key) : NULL;
  return json_is_string(v) ? json_string_value(v) : dflt;
}

double berth__json_num(const json_t *obj, const char *key, double dflt) {
  const json_t *v = obj ? json_object_get(obj, key) : NULL;
  return json_is_number(v) ? json_number_value(v) : dflt;
}

void berth__json_time(const json_t *obj, const char *key, char *out, size_t n) {
  double t = berth__json_num(obj, key, -1);
  struct tm tm;
  time_t secs = (time_t)t;
  if (t < 0 || !localtime_r(&secs, &tm) || strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
    snprintf(out, n, "-");
}
