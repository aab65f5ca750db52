/* The monotonic clock drivers use; raft/ and kv/ never call it. */
#include <time.h>

#include "common/common.h"

uint64_t common_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
