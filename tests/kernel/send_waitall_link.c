/* Fact: a short send with MSG_WAITALL fails its link; without MSG_WAITALL a
 * short send does not (what is linked behind it runs). Both sends carry
 * MSG_DONTWAIT, as the server's do, on a socket with room for part of the
 * bytes.
 *
 * The server relies on it (src/server/transfer.cpp next_chain, docs/design.md
 * "Kernel facts"): a send with anything linked behind it carries
 * MSG_WAITALL, since the splice after half a head would put body bytes in
 * the middle of it; only a chain's last step may be short, and its send has
 * no MSG_WAITALL so that a slow reader's progress shows. */
#include "probe.h"

/* Sends len bytes (with flags) linked to a NOP; returns the send's result
 * and sets *linked to the NOP's. */
static int send_linked(struct io_uring* ring, int fd, const char* buf, size_t len, int flags, int* linked)
{
    struct io_uring_sqe* sqe = io_uring_get_sqe(ring);
    io_uring_prep_send(sqe, fd, buf, len, flags);
    sqe->flags |= IOSQE_IO_LINK;
    sqe->user_data = 0;
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_nop(sqe);
    sqe->user_data = 1;
    io_uring_submit(ring);
    int res[2] = {0};
    for (int i = 0; i < 2; ++i) {
        struct io_uring_cqe* cqe;
        if (!probe_wait(ring, &cqe, 2000)) probe_fail("a MSG_DONTWAIT send did not complete");
        res[cqe->user_data] = cqe->res;
        io_uring_cqe_seen(ring, cqe);
    }
    *linked = res[1];
    return res[0];
}

/* The peer reads everything it has: room opens, though not for 1 MiB. */
static void peer_reads(int client)
{
    static char sink[1 << 16];
    for (int quiet = 0; quiet < 5;) {
        ssize_t n = recv(client, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0) {
            quiet = 0;
        } else {
            probe_check(n < 0 && errno == EAGAIN, "recv");
            ++quiet;
            usleep(10000);
        }
    }
}

int main(void)
{
    struct io_uring ring;
    probe_ring(&ring, 8);
    int server, client;
    probe_tcp_pair(&server, &client);
    static char buf[1 << 20];

    probe_fill(server);
    peer_reads(client);
    int linked;
    int sent = send_linked(&ring, server, buf, sizeof buf, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_WAITALL, &linked);
    if (sent <= 0 || sent >= (int)sizeof buf) probe_fail("the MSG_WAITALL send was not short: %d", sent);
    if (linked != -ECANCELED) probe_fail("behind a short MSG_WAITALL send the link gave %d, not -ECANCELED", linked);

    probe_fill(server);
    peer_reads(client);
    int sent2 = send_linked(&ring, server, buf, sizeof buf, MSG_NOSIGNAL | MSG_DONTWAIT, &linked);
    if (sent2 <= 0 || sent2 >= (int)sizeof buf) probe_fail("the send without MSG_WAITALL was not short: %d", sent2);
    if (linked != 0) probe_fail("behind a short send without MSG_WAITALL the link gave %d, not 0", linked);

    printf("holds: short MSG_WAITALL send (%d of %zu) fails the link; without it (%d) the link runs\n", sent,
           sizeof buf, sent2);
    return FACT_HOLDS;
}
