#ifndef TETHER_CLINUX_H
#define TETHER_CLINUX_H

// One umbrella header over liburing and the Linux interfaces Swift cannot
// see by itself. liburing's static inline functions are called directly
// from Swift; shims exist only for macros, unions and _GNU_SOURCE-only
// functions.

#include <liburing.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <pwd.h>
#include <grp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tether_memfd_create(const char *name, unsigned int flags);
int tether_sched_pin_to_cpu(int cpu);
int tether_cpu_count_in_affinity(void);
int tether_errno(void);
// The CPUs in the calling thread's affinity mask, in ascending order: writes
// at most `capacity` of them to `cpus` and returns how many there are, or -1.
int tether_cpus_in_affinity(int *cpus, int capacity);
// A close-on-exec memfd that can be sealed, and its sealing against every
// change (MFD_ and F_SEAL_ names need _GNU_SOURCE; fcntl is variadic).
int tether_memfd_create_sealable(const char *name);
int tether_seal_memfd(int fd);
char **tether_environ(void);
// prctl is variadic.
int tether_set_parent_death_signal(int signal);
int tether_set_dumpable(int on);

// Flag macros built from enum bit numbers, which Swift does not import.
static const unsigned char tether_IOSQE_IO_LINK = IOSQE_IO_LINK;
static const unsigned char tether_IOSQE_IO_HARDLINK = IOSQE_IO_HARDLINK;
static const unsigned char tether_IOSQE_BUFFER_SELECT = IOSQE_BUFFER_SELECT;
static const unsigned char tether_IOSQE_CQE_SKIP_SUCCESS = IOSQE_CQE_SKIP_SUCCESS;
static const unsigned int tether_IORING_CQE_BUFFER_SHIFT = IORING_CQE_BUFFER_SHIFT;

// `buf_group` shares an anonymous union with `buf_index`.
static inline void tether_sqe_set_buf_group(struct io_uring_sqe *sqe, unsigned short group) {
    sqe->buf_group = group;
}

// Signal sets are macros-and-opaque-struct territory.
int tether_block_signals_and_open_signalfd(const int *signals, int count);
void tether_ignore_signal(int signal);

// open(2) is variadic; Swift cannot call it.
int tether_open(const char *path, int flags, unsigned mode);

#endif
