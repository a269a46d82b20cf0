#include "CLinux.h"

int tether_memfd_create(const char *name, unsigned int flags) {
    return memfd_create(name, flags);
}

int tether_sched_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int tether_cpu_count_in_affinity(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int tether_errno(void) { return errno; }
