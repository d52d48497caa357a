/* Fact: a multishot accept into fixed slots the kernel allocates accepts a
 * connection first and installs its slot afterwards: when the table is
 * full, that second step fails with -ENFILE, and the client, already
 * accepted (its connect succeeded), is dropped.
 *
 * The server relies on it (src/server/socket.cpp arm_accept, docs/design.md
 * "The request path"): it arms single-shot accepts, each into the slot of a
 * free connection, and none when every slot is taken, so a client waits in
 * the listen backlog instead of being accepted only to be dropped. */
#include "probe.h"

static int connect_to(const struct sockaddr_in* a)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    probe_check(c >= 0, "socket");
    probe_check(connect(c, (const struct sockaddr*)a, sizeof *a) == 0, "connect");
    return c;
}

int main(void)
{
    struct io_uring ring;
    probe_ring(&ring, 8);
    int ret = io_uring_register_files_sparse(&ring, 1);
    if (ret == -EINVAL) probe_skip("no sparse fixed-file tables");
    probe_check(ret == 0, "io_uring_register_files_sparse");

    struct sockaddr_in a;
    int ls = probe_listener(&a, 8);

    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_multishot_accept_direct(sqe, ls, NULL, NULL, 0);
    io_uring_submit(&ring);

    int first = connect_to(&a);
    struct io_uring_cqe* cqe;
    if (!probe_wait(&ring, &cqe, 2000)) probe_fail("the first client was not accepted");
    if (cqe->res == -EINVAL) probe_skip("no multishot accept into fixed slots");
    if (cqe->res < 0) probe_fail("the first accept gave %d", cqe->res);
    io_uring_cqe_seen(&ring, cqe);

    int second = connect_to(&a); /* the table (one slot) is full now */
    if (!probe_wait(&ring, &cqe, 2000)) probe_fail("no completion for the client past a full table");
    if (cqe->res != -ENFILE) probe_fail("past a full table the accept gave %d, not -ENFILE", cqe->res);
    io_uring_cqe_seen(&ring, cqe);

    /* It was accepted all the same, and then dropped: the client reads the
     * end (or a reset) instead of waiting in the backlog. */
    struct timeval tv = {.tv_sec = 2};
    setsockopt(second, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char byte;
    ssize_t n = recv(second, &byte, 1, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        probe_fail("the client past a full table waits (it was not accepted and dropped)");
    printf("holds: past a full table the accept gives -ENFILE after accepting; the client sees %s\n",
           n == 0 ? "the end" : "a reset");
    close(first);
    close(second);
    return FACT_HOLDS;
}
