#ifndef TETHER_CLINUX_H
#define TETHER_CLINUX_H

// One umbrella header over liburing and the Linux interfaces Swift cannot
// see by itself. liburing's static inline functions are called directly
// from Swift; shims exist only for macros and _GNU_SOURCE-only functions.

#include <liburing.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int tether_memfd_create(const char *name, unsigned int flags);
int tether_sched_pin_to_cpu(int cpu);
int tether_cpu_count_in_affinity(void);
int tether_errno(void);

#endif
