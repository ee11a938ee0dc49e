/* test_log: level names and error names (lib/log.c). */
#include <errno.h>

#include "berth/log.h"
#include "check.h"

int main(void) {
  berth_log_level l;
  CHECK_INT(berth_log_parse_level("warn", &l), 0);
  CHECK_INT(l, BERTH_LOG_WARN);
  CHECK_INT(berth_log_parse_level("loud", &l), -EINVAL);
  CHECK(strcmp(berth_err_name(0), "OK") == 0);
  CHECK(strncmp(berth_err_name(-ENOBUFS), "ENOBUFS (", 9) == 0);
  CHECK(strncmp(berth_err_name(-ETIMEDOUT), "ETIMEDOUT (", 11) == 0);
  CHECK(strstr(berth_err_name(-EIO), "EIO") != NULL);
  CHECK_DONE();
}
