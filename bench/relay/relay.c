// The floor: a minimal io_uring relay. Each accepted client connection is
// paired with one new connection to a backend (round robin over the given
// backends) and bytes are copied both ways, no HTTP. What a proxy costs on
// top of this is the price of understanding HTTP.
//   relay LISTEN_PORT BACKEND_PORT [BACKEND_PORT...]   (all on 127.0.0.1)
#include <liburing.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONN 4096
#define BUF_SIZE 16384

enum { OP_ACCEPT = 1, OP_CONNECT, OP_RECV, OP_SEND };

struct side { int fd; int peer; char buf[BUF_SIZE]; int len; };
static struct side sides[MAX_CONN * 2];
static struct io_uring ring;
static int backends[16], nbackends, next_backend;

static unsigned long long pack(int op, int idx) { return ((unsigned long long)op << 32) | (unsigned)idx; }

static struct io_uring_sqe *sqe(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) { io_uring_submit(&ring); s = io_uring_get_sqe(&ring); }
    return s;
}

static void post_recv(int i) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_recv(s, sides[i].fd, sides[i].buf, BUF_SIZE, 0);
    io_uring_sqe_set_data64(s, pack(OP_RECV, i));
}

static void post_send(int i, int from) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_send(s, sides[i].fd, sides[from].buf, sides[from].len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, pack(OP_SEND, from));
}

static void close_pair(int i) {
    int p = sides[i].peer;
    if (sides[i].fd >= 0) { close(sides[i].fd); sides[i].fd = -1; }
    if (p >= 0 && sides[p].fd >= 0) { shutdown(sides[p].fd, SHUT_RDWR); }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: relay LISTEN_PORT BACKEND_PORT...\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 2; i < argc && nbackends < 16; i++) backends[nbackends++] = atoi(argv[i]);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1024)) { perror("listen"); return 1; }
    for (int i = 0; i < MAX_CONN * 2; i++) sides[i].fd = -1;
    if (io_uring_queue_init(4096, &ring, 0)) { perror("io_uring"); return 1; }
    struct io_uring_sqe *s = sqe();
    io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(s, pack(OP_ACCEPT, 0));
    printf("relay listening on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            int op = cqe->user_data >> 32, i = (int)(cqe->user_data & 0xffffffff), res = cqe->res;
            if (op == OP_ACCEPT) {
                if (res < 0) continue;
                int c = -1;
                for (int k = 0; k < MAX_CONN; k++) if (sides[2 * k].fd < 0 && sides[2 * k + 1].fd < 0) { c = 2 * k; break; }
                if (c < 0) { close(res); continue; }
                setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                int b = socket(AF_INET, SOCK_STREAM, 0);
                setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                sides[c] = (struct side){ .fd = res, .peer = c + 1 };
                sides[c + 1] = (struct side){ .fd = b, .peer = c };
                static struct sockaddr_in ba;
                ba = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(backends[next_backend++ % nbackends]), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                struct io_uring_sqe *x = sqe();
                io_uring_prep_connect(x, b, (struct sockaddr *)&ba, sizeof ba);
                io_uring_sqe_set_data64(x, pack(OP_CONNECT, c));
            } else if (op == OP_CONNECT) {
                if (res < 0) { close_pair(i + 1); close_pair(i); continue; }
                post_recv(i);
                post_recv(i + 1);
            } else if (op == OP_RECV) {
                if (res <= 0) { close_pair(i); continue; }
                sides[i].len = res;
                post_send(sides[i].peer, i);
            } else if (op == OP_SEND) {
                if (res < 0) { close_pair(i); continue; }
                if (res < sides[i].len) {  // short send: send the rest
                    memmove(sides[i].buf, sides[i].buf + res, sides[i].len - res);
                    sides[i].len -= res;
                    post_send(sides[i].peer, i);
                } else if (sides[i].fd >= 0) {
                    post_recv(i);
                }
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
