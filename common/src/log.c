/* The log callback type's helpers. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/common.h"

const char *common_log_level_name(int level)
{
    switch (level) {
        case COMMON_LOG_DEBUG:
            return "debug";
        case COMMON_LOG_INFO:
            return "info";
        case COMMON_LOG_WARN:
            return "warn";
        case COMMON_LOG_ERROR:
            return "error";
        default:
            return "?";
    }
}

void common_logf(common_log_fn fn,
                 void *data,
                 enum common_log_level level,
                 const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    common_vlogf(fn, data, level, fmt, ap);
    va_end(ap);
}

void common_vlogf(common_log_fn fn,
                  void *data,
                  enum common_log_level level,
                  const char *fmt,
                  va_list ap)
{
    assert(fmt != NULL);
    assert(level >= COMMON_LOG_DEBUG && level <= COMMON_LOG_ERROR);
    if (fn == NULL) {
        return;
    }
    char line[COMMON_LOG_LINE_MAX];
    vsnprintf(line, sizeof line, fmt, ap);
    fn(data, level, line);
}
