/* Fact: on a full socket, an io_uring send without MSG_DONTWAIT waits inside
 * the kernel (io_uring arms its own poll and retries), even on a socket
 * opened O_NONBLOCK; with MSG_DONTWAIT it completes at once with -EAGAIN,
 * and a send that is cut short (MSG_WAITALL | MSG_DONTWAIT) completes with
 * the bytes it did send and fails its link, so the steps behind it complete
 * with -ECANCELED.
 *
 * The server relies on it (src/server/transfer.cpp, docs/design.md): every
 * send carries MSG_DONTWAIT, so no send of a chain ever waits in the kernel
 * on a peer while the connection holds a pipe; a full socket comes back to
 * the state machine, which waits for POLLOUT and resumes from the cursor. */
#include "probe.h"

int main(void)
{
    struct io_uring ring;
    probe_ring(&ring, 8);
    int server, client;
    probe_tcp_pair(&server, &client);
    static char buf[1 << 20];

    /* 1. Without MSG_DONTWAIT: the send waits while the socket is full. */
    probe_fill(server);
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_send(sqe, server, buf, 1000, MSG_NOSIGNAL);
    sqe->user_data = 1;
    io_uring_submit(&ring);
    struct io_uring_cqe* cqe;
    if (probe_wait(&ring, &cqe, 300))
        probe_fail("a send to a full O_NONBLOCK socket completed (%d) instead of waiting", cqe->res);
    /* Let it go: the peer reads everything, the waiting send completes. */
    for (;;) {
        ssize_t n = recv(client, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) {
            if (probe_wait(&ring, &cqe, 50)) break;
        }
    }
    probe_check(cqe->user_data == 1 && cqe->res == 1000, "the waiting send completes once there is room");
    io_uring_cqe_seen(&ring, cqe);
    while (recv(client, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }

    /* 2. MSG_DONTWAIT on a full socket: -EAGAIN now, the link fails. */
    probe_fill(server);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_send(sqe, server, buf, 1000, MSG_NOSIGNAL | MSG_WAITALL | MSG_DONTWAIT);
    sqe->flags |= IOSQE_IO_LINK;
    sqe->user_data = 2;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_nop(sqe);
    sqe->user_data = 3;
    io_uring_submit(&ring);
    int res[4] = {0};
    for (int i = 0; i < 2; ++i) {
        if (!probe_wait(&ring, &cqe, 1000)) probe_fail("a MSG_DONTWAIT send to a full socket did not complete");
        res[cqe->user_data] = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
    }
    if (res[2] != -EAGAIN) probe_fail("MSG_DONTWAIT send to a full socket gave %d, not -EAGAIN", res[2]);
    if (res[3] != -ECANCELED) probe_fail("the step linked behind a -EAGAIN send gave %d, not -ECANCELED", res[3]);

    /* 3. Room for part of it: the send reports what it sent, and fails the
     * link (MSG_WAITALL asked for all of it). */
    /* The peer reads all it has: its window opens and the sender's queue
     * drains into it, but a 1 MiB send still does not fit. (Reading only a
     * little may not open the window at all: the receiver announces room
     * only once a segment's worth is free.) */
    ssize_t n = 0;
    for (int quiet = 0; quiet < 5;) {
        ssize_t got = recv(client, buf, sizeof buf, MSG_DONTWAIT);
        if (got > 0) {
            n += got;
            quiet = 0;
        } else {
            probe_check(got < 0 && errno == EAGAIN, "recv");
            ++quiet;
            usleep(10000);
        }
    }
    probe_check(n > 0, "recv");
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_send(sqe, server, buf, sizeof buf, MSG_NOSIGNAL | MSG_WAITALL | MSG_DONTWAIT);
    sqe->flags |= IOSQE_IO_LINK;
    sqe->user_data = 2;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_nop(sqe);
    sqe->user_data = 3;
    io_uring_submit(&ring);
    for (int i = 0; i < 2; ++i) {
        if (!probe_wait(&ring, &cqe, 1000)) probe_fail("a short MSG_DONTWAIT send did not complete");
        res[cqe->user_data] = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
    }
    if (res[2] <= 0 || res[2] >= (int)sizeof buf)
        probe_fail("a send with room for part of it gave %d, not the bytes it sent", res[2]);
    if (res[3] != -ECANCELED) probe_fail("the step linked behind a short send gave %d, not -ECANCELED", res[3]);

    printf("holds: a send without MSG_DONTWAIT waits on a full socket; with it: -EAGAIN, or %d of %zu bytes, "
           "and the link fails\n",
           res[2], sizeof buf);
    io_uring_queue_exit(&ring);
    return FACT_HOLDS;
}
