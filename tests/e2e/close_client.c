/* Short connections the way a load generator makes them: connect, send one
 * request with "Connection: close", read the response by its Content-Length
 * and close at once, without waiting for the server's FIN. Whoever closes
 * first keeps the TIME_WAIT: if the response's last bytes arrive before the
 * FIN, this client (on another core) usually closes first.
 *
 *   close_client PORT THREADS CONNECTIONS_PER_THREAD PATH
 *
 * Prints "ok N failed M"; exits 0 when every response was a whole 200. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static int per_thread;
static const char* path;

struct result {
    int ok;
    int failed;
};

static int one_connection(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (connect(fd, (struct sockaddr*)&a, sizeof a) == 0) {
        char req[512];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
        if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
            char buf[65536];
            size_t have = 0; /* of the head, in buf */
            long want = -1;  /* the whole response's length, once the head is in */
            long got = 0;
            for (;;) {
                ssize_t r = recv(fd, buf + (want < 0 ? have : 0), want < 0 ? sizeof buf - have : sizeof buf, 0);
                if (r <= 0) break;
                got += r;
                if (want < 0) {
                    have += (size_t)r;
                    char* end = memmem(buf, have, "\r\n\r\n", 4);
                    if (!end) {
                        if (have == sizeof buf) break;
                        continue;
                    }
                    char* cl = memmem(buf, (size_t)(end - buf), "Content-Length: ", 16);
                    if (!cl || strncmp(buf, "HTTP/1.1 200 ", 13) != 0) break;
                    want = (end + 4 - buf) + strtol(cl + 16, NULL, 10);
                }
                if (got >= want) {
                    ok = got == want;
                    break;
                }
            }
        }
    }
    close(fd); /* at once: the response is whole */
    return ok;
}

static void* run(void* arg)
{
    struct result* r = arg;
    for (int i = 0; i < per_thread; ++i) {
        if (one_connection())
            ++r->ok;
        else
            ++r->failed;
    }
    return NULL;
}

int main(int argc, char** argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: close_client PORT THREADS CONNECTIONS_PER_THREAD PATH\n");
        return 2;
    }
    port = atoi(argv[1]);
    int threads = atoi(argv[2]);
    per_thread = atoi(argv[3]);
    path = argv[4];
    pthread_t t[64];
    struct result r[64];
    if (threads < 1 || threads > 64) return 2;
    memset(r, 0, sizeof r);
    for (int i = 0; i < threads; ++i) pthread_create(&t[i], NULL, run, &r[i]);
    int ok = 0, failed = 0;
    for (int i = 0; i < threads; ++i) {
        pthread_join(t[i], NULL);
        ok += r[i].ok;
        failed += r[i].failed;
    }
    printf("ok %d failed %d\n", ok, failed);
    return failed == 0 ? 0 : 1;
}
