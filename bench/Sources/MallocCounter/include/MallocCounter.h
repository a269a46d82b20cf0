#ifndef TETHER_MALLOC_COUNTER_H
#define TETHER_MALLOC_COUNTER_H
#include <stdint.h>

/// Allocations made by this process since it started (malloc, calloc,
/// realloc, posix_memalign, aligned_alloc, memalign).
uint64_t tether_malloc_count(void);

#endif
