// The floor: a minimal io_uring relay. Each accepted client connection is
// paired with one new connection to a backend (round robin over the given
// backends) and bytes are copied both ways, no HTTP. What a proxy costs on
// top of this is the price of understanding HTTP.
//
//   relay [-w WORKERS] [-b BUFFER_BYTES] LISTEN_PORT BACKEND_PORT [BACKEND_PORT...]
//
// All addresses are 127.0.0.1. BUFFER_BYTES (default 65536) is what one
// receive can take: large buffers mean fewer receives and sends for large
// bodies, so the default makes the relay the cheaper floor (bench/run passes
// its --relay-buffer).
// The ring is set up as tether's is (single issuer, deferred task work), so
// the two pay the same for getting completions.
//
// WORKERS processes (default 1), each with its own SO_REUSEPORT listening
// socket and ring, as the proxies it is compared with run one worker per
// core, each pinned to the next CPU of the affinity mask it started with (as
// tether pins its workers). When either side of a pair reaches end of stream
// or fails, both sockets are closed once their operations are done, so a
// client that sends `Connection: close` (the backend closes) gets a new pair
// per request.
#define _GNU_SOURCE
#include <liburing.h>
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PAIRS 16384

enum { OP_ACCEPT = 1, OP_CONNECT, OP_RECV, OP_SEND };

// A side owns a socket and the buffer that its receives fill; the bytes are
// sent to the peer side's socket. At most one operation per side is in flight
// (its receive or the send of its buffer), plus the connect on a new pair.
struct side { int fd; int peer; int busy; int len; char *buf; };
static struct side *sides;
static char *buffers;
static size_t buf_size = 65536;
static int free_pairs[MAX_PAIRS], nfree;
static struct io_uring ring;
static struct sockaddr_in backend_addr[16];
static int nbackends, next_backend;

static unsigned long long pack(int op, int idx) { return ((unsigned long long)op << 32) | (unsigned)idx; }

static struct io_uring_sqe *sqe(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) { io_uring_submit(&ring); s = io_uring_get_sqe(&ring); }
    return s;
}

static void post_recv(int i) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_recv(s, sides[i].fd, sides[i].buf, buf_size, 0);
    io_uring_sqe_set_data64(s, pack(OP_RECV, i));
    sides[i].busy = 1;
}

static void post_send(int from) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_send(s, sides[sides[from].peer].fd, sides[from].buf, sides[from].len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, pack(OP_SEND, from));
    sides[from].busy = 1;
}

// Side i's chain of operations ended. Shut the pair down so the peer's
// pending receive ends too; when neither side has an operation in flight,
// close both sockets and free the pair.
static void finish(int i) {
    int c = i & ~1, p = sides[i].peer;
    sides[i].busy = 0;
    if (sides[c].fd >= 0) shutdown(sides[c].fd, SHUT_RDWR);
    if (sides[c + 1].fd >= 0) shutdown(sides[c + 1].fd, SHUT_RDWR);
    if (sides[p].busy) return;
    close(sides[c].fd);
    close(sides[c + 1].fd);
    sides[c].fd = sides[c + 1].fd = -1;
    free_pairs[nfree++] = c / 2;
}

// Pins the calling process to the w-th CPU of the inherited affinity mask.
static void pin(int w) {
    cpu_set_t mask, one;
    if (sched_getaffinity(0, sizeof mask, &mask)) return;
    int n = CPU_COUNT(&mask), k = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &mask)) continue;
        if (k++ == w % n) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            if (sched_setaffinity(0, sizeof one, &one)) perror("sched_setaffinity");
            return;
        }
    }
}

static int serve(int lfd) {
    sides = calloc(2 * MAX_PAIRS, sizeof *sides);
    buffers = calloc(2 * MAX_PAIRS, buf_size);  // untouched pages cost nothing
    if (!sides || !buffers) { perror("calloc"); return 1; }
    for (int k = MAX_PAIRS - 1; k >= 0; k--) free_pairs[nfree++] = k;
    for (int i = 0; i < 2 * MAX_PAIRS; i++) { sides[i].fd = -1; sides[i].buf = buffers + (size_t)i * buf_size; }
    struct io_uring_params params = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL };
    int err = io_uring_queue_init_params(4096, &ring, &params);
    if (err == -EINVAL) err = io_uring_queue_init(4096, &ring, 0);  // an older kernel
    if (err) { fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-err)); return 1; }
    struct io_uring_sqe *s = sqe();
    io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(s, pack(OP_ACCEPT, 0));
    int one = 1;
    for (;;) {
        err = io_uring_submit_and_wait(&ring, 1);
        if (err < 0 && err != -EINTR) { fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-err)); return 1; }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            int op = cqe->user_data >> 32, i = (int)(cqe->user_data & 0xffffffff), res = cqe->res;
            if (op == OP_ACCEPT) {
                if (!(cqe->flags & IORING_CQE_F_MORE)) {  // re-arm a multishot accept the kernel ended
                    struct io_uring_sqe *x = sqe();
                    io_uring_prep_multishot_accept(x, lfd, NULL, NULL, 0);
                    io_uring_sqe_set_data64(x, pack(OP_ACCEPT, 0));
                }
                if (res < 0) continue;
                if (nfree == 0) { close(res); continue; }
                int c = 2 * free_pairs[--nfree];
                int b = socket(AF_INET, SOCK_STREAM, 0);
                if (b < 0) { close(res); free_pairs[nfree++] = c / 2; continue; }
                setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                sides[c].fd = res; sides[c].peer = c + 1; sides[c].busy = 1; sides[c].len = 0;
                sides[c + 1].fd = b; sides[c + 1].peer = c; sides[c + 1].busy = 0; sides[c + 1].len = 0;
                struct io_uring_sqe *x = sqe();
                io_uring_prep_connect(x, b, (struct sockaddr *)&backend_addr[next_backend++ % nbackends], sizeof backend_addr[0]);
                io_uring_sqe_set_data64(x, pack(OP_CONNECT, c));
            } else if (op == OP_CONNECT) {
                if (res < 0) { finish(i); continue; }
                post_recv(i);
                post_recv(i + 1);
            } else if (op == OP_RECV) {
                if (res <= 0) { finish(i); continue; }
                sides[i].len = res;
                post_send(i);
            } else if (op == OP_SEND) {
                if (res < 0) { finish(i); continue; }
                if (res < sides[i].len) {  // short send: send the rest
                    memmove(sides[i].buf, sides[i].buf + res, sides[i].len - res);
                    sides[i].len -= res;
                    post_send(i);
                } else {
                    post_recv(i);
                }
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}

int main(int argc, char **argv) {
    int workers = 1, arg = 1;
    while (arg + 1 < argc && argv[arg][0] == '-') {
        if (strcmp(argv[arg], "-w") == 0) workers = atoi(argv[arg + 1]);
        else if (strcmp(argv[arg], "-b") == 0) buf_size = (size_t)atol(argv[arg + 1]);
        else break;
        arg += 2;
    }
    if (argc - arg < 2 || workers < 1 || buf_size < 1 || buf_size > (1 << 24)) {
        fprintf(stderr, "usage: relay [-w WORKERS] [-b BUFFER_BYTES] LISTEN_PORT BACKEND_PORT...\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int port = atoi(argv[arg]);
    for (int i = arg + 1; i < argc && nbackends < 16; i++)
        backend_addr[nbackends++] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(atoi(argv[i])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    // Bind every worker's socket before any worker starts, so that the port
    // is served by all of them from the first connection.
    int lfds[64];
    if (workers > 64) workers = 64;
    for (int w = 0; w < workers; w++) {
        int one = 1;
        lfds[w] = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(lfds[w], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(lfds[w], SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (bind(lfds[w], (struct sockaddr *)&a, sizeof a) || listen(lfds[w], 4096)) { perror("listen"); return 1; }
    }
    printf("relay listening on 127.0.0.1:%d, %d worker(s)\n", port, workers);
    fflush(stdout);
    if (workers == 1) { pin(0); return serve(lfds[0]); }
    for (int w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            for (int k = 0; k < workers; k++) if (k != w) close(lfds[k]);
            pin(w);
            return serve(lfds[w]);
        }
    }
    // The parent waits; SIGTERM to the process group ends everyone.
    int status, failed = 0;
    while (wait(&status) > 0) if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
    return failed;
}
