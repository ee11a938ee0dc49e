/* secret: comparing a presented token with the expected one. */
#ifndef BERTH_SECRET_H
#define BERTH_SECRET_H

/* 1 when equal. Takes the same time wherever the first difference is, so
 * timing does not reveal how much of a guess was right. */
int berth_secret_equal(const char *expected, const char *given);

#endif
