/* Shared by the kernel-fact probes (one fact a file, liburing's test/ style):
 * exit 0 when the fact holds, 1 when the kernel behaves differently (the
 * design that relies on it must be looked at again), 77 when it cannot be
 * checked here (no io_uring, an opcode missing). */
#pragma once

#include <liburing.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FACT_HOLDS 0
#define FACT_CHANGED 1
#define FACT_UNAVAILABLE 77

static inline void probe_skip(const char* why)
{
    printf("skip: %s\n", why);
    exit(FACT_UNAVAILABLE);
}

static inline void probe_fail(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("changed: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(FACT_CHANGED);
}

/* A setup step that must work for the probe to mean anything. */
static inline void probe_check(int ok, const char* what)
{
    if (!ok) {
        printf("probe set-up failed: %s: %s\n", what, strerror(errno));
        exit(99); /* meson: a hard error, not a changed fact */
    }
}

static inline void probe_ring(struct io_uring* ring, unsigned entries)
{
    int ret = io_uring_queue_init(entries, ring, 0);
    if (ret == -ENOSYS || ret == -EPERM) probe_skip("io_uring unavailable");
    if (ret < 0) {
        errno = -ret;
        probe_check(0, "io_uring_queue_init");
    }
}

static inline void probe_need_op(struct io_uring* ring, int op, const char* name)
{
    struct io_uring_probe* p = io_uring_get_probe_ring(ring);
    if (!p || !io_uring_opcode_supported(p, op)) {
        char why[96];
        snprintf(why, sizeof why, "%s not supported by this kernel", name);
        if (p) io_uring_free_probe(p);
        probe_skip(why);
    }
    io_uring_free_probe(p);
}

/* A listening socket on a free loopback port; *a is its address. */
static inline int probe_listener(struct sockaddr_in* a, int backlog)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    probe_check(ls >= 0, "socket");
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    probe_check(bind(ls, (struct sockaddr*)a, sizeof *a) == 0, "bind");
    socklen_t len = sizeof *a;
    probe_check(getsockname(ls, (struct sockaddr*)a, &len) == 0, "getsockname");
    probe_check(listen(ls, backlog) == 0, "listen");
    return ls;
}

/* A connected TCP pair on loopback: *server non-blocking, as the server's
 * accepted sockets are; the client's receive window kept small so that the
 * server's side fills after a few KiB (loopback otherwise grows buffers to
 * MiBs). */
static inline void probe_tcp_pair(int* server, int* client)
{
    struct sockaddr_in a;
    int ls = probe_listener(&a, 4);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    probe_check(c >= 0, "socket");
    int small = 4096;
    probe_check(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0, "SO_RCVBUF");
    int mss = 1460;
    probe_check(setsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) == 0, "TCP_MAXSEG");
    probe_check(connect(c, (struct sockaddr*)&a, sizeof a) == 0, "connect");
    int s = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    probe_check(s >= 0, "accept4");
    probe_check(setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0, "SO_SNDBUF");
    close(ls);
    *server = s;
    *client = c;
}

/* Sends from the non-blocking side until the socket takes no more, and
 * still takes none a while later (what was queued has moved into the peer's
 * receive buffer, and that is full too). A send refused once can succeed a
 * moment later, as acknowledgements free room: only a long quiet counts. */
static inline void probe_fill(int fd)
{
    static char junk[65536];
    int quiet = 0;
    while (quiet < 10) {
        ssize_t n = send(fd, junk, quiet == 0 ? sizeof junk : 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            probe_check(errno == EAGAIN, "send (filling)");
            ++quiet;
            usleep(20000);
        } else {
            quiet = 0;
        }
    }
}

/* The next CQE within ms milliseconds, or 0 with *cqe NULL. */
static inline int probe_wait(struct io_uring* ring, struct io_uring_cqe** cqe, long ms)
{
    struct __kernel_timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    int ret = io_uring_wait_cqe_timeout(ring, cqe, &ts);
    if (ret == -ETIME) {
        *cqe = NULL;
        return 0;
    }
    if (ret < 0) {
        errno = -ret;
        probe_check(0, "io_uring_wait_cqe_timeout");
    }
    return 1;
}
