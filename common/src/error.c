/* The error table of common.h turned into lookup functions. */
#include "common/common.h"

const char *common_strerror(int code)
{
    if (code == 0) {
        return "success";
    }
    switch (code) {
#define COMMON_ERROR_MSG(name, value, msg) \
    case value:                            \
        return msg;
        COMMON_ERRORS(COMMON_ERROR_MSG)
#undef COMMON_ERROR_MSG
        default:
            return "unknown error";
    }
}

const char *common_error_name(int code)
{
    switch (code) {
#define COMMON_ERROR_NAME(name, value, msg) \
    case value:                             \
        return #name;
        COMMON_ERRORS(COMMON_ERROR_NAME)
#undef COMMON_ERROR_NAME
        default:
            return "UNKNOWN";
    }
}
