/* Strict parsing of numbers given as text (flags, scenario values). */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "common/common.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int common_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    assert(out != NULL && min <= max);
    if (s == NULL || !is_digit(*s)) {
        return COMMON_EPARSE;
    }
    uint64_t v = 0;
    bool overflow = false;
    const char *p = s;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            overflow = true;
        } else {
            v = v * 10 + d;
        }
    }
    if (*p != '\0') {
        return COMMON_EPARSE;
    }
    if (overflow || v < min || v > max) {
        return COMMON_ERANGE;
    }
    *out = v;
    return 0;
}

/* Digits, at most one '.', then an optional exponent; true when @s is
 * exactly that with a digit before the exponent. */
static bool decimal_syntax(const char *s)
{
    const char *p = s;
    size_t digits = 0;
    for (; is_digit(*p); p++) {
        digits++;
    }
    if (*p == '.') {
        for (p++; is_digit(*p); p++) {
            digits++;
        }
    }
    if (digits == 0) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!is_digit(*p)) {
            return false;
        }
        while (is_digit(*p)) {
            p++;
        }
    }
    return *p == '\0';
}

int common_parse_double(const char *s, double min, double max, double *out)
{
    assert(out != NULL && min <= max);
    if (s == NULL || !decimal_syntax(s)) {
        return COMMON_EPARSE;
    }
    /* The syntax leaves strtod nothing to choose (no hex, inf or nan). */
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    assert(end != NULL && *end == '\0');
    if (errno == ERANGE || !isfinite(v) || v < min || v > max) {
        return COMMON_ERANGE;
    }
    *out = v;
    return 0;
}
