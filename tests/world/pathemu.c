/* pathemu: an emulated network path between two network namespaces, in user
 * space, for a kernel without netem (tests/world/h2path.py, issue 11 item 5).
 *
 * It opens a TUN device in the namespace it starts in (the client's), then
 * unshares a new network namespace (the server's, which lives as long as this
 * process: other processes join it through /proc/PID/ns/net) and opens a
 * second TUN device there. Every IP packet the client's kernel routes into
 * the first device comes out of the second, and back, through one link per
 * direction:
 *
 *   - a rate cap: packets leave the link's queue one after the other, each
 *     taking size * 8 / rate seconds (serialisation);
 *   - a bounded FIFO in front of it that drops at its tail: a packet that
 *     would find more than --queue bytes waiting is dropped (counted);
 *   - then a fixed one-way delay before it is written to the other device.
 *
 * The devices are configured by the caller (addresses, up); this program
 * only moves packets. Each line written to its stdin makes it print one line
 * of counters per direction (totals since the start) and "end" on stdout.
 * It stops when its stdin closes (its parent died or is done) or on
 * SIGTERM/SIGINT, and prints the counters once more.
 *
 * Usage: pathemu CLIENT_DEV SERVER_DEV DELAY_US RATE_BITS_PER_S QUEUE_BYTES
 * Prints "ready PID" on stdout once both devices exist. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Packets in one direction's queue and delay line together, at most; the
 * delay line of a 100 Mbit/s, 50 ms link holds about 420 full packets, and
 * the queue what --queue allows. Past this a packet is dropped (counted
 * apart from the tail drops, so a run can tell if it ever happened). */
#define SLOTS 16384
/* The devices' MTU is 1500; room for any packet a TUN device hands us. */
#define PACKET_MAX 2048
/* Packets read from one device per turn of the loop, so that one busy
 * direction does not starve the other's deliveries. */
#define READ_BURST 64

struct packet {
    uint64_t deliver_ns; /* when it leaves the delay line */
    uint16_t size;
    uint8_t data[PACKET_MAX];
};

struct link {
    const char *name;
    int in_fd;
    int out_fd;
    struct packet *ring; /* FIFO: deliver_ns never decreases along it */
    size_t head;         /* oldest */
    size_t count;
    uint64_t busy_until_ns; /* when the last accepted packet is fully serialised */
    uint64_t packets_in;
    uint64_t packets_out;
    uint64_t bytes_out;
    uint64_t tail_drops;
    uint64_t ring_drops;
    uint64_t write_errors;
};

static volatile sig_atomic_t stopping;

static void on_signal(int signo)
{
    (void)signo;
    stopping = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int open_tun(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        perror("pathemu: /dev/net/tun");
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    /* Bare IP packets, no packet-information header, no offloads: the
     * kernel hands us packets of at most the MTU, as a wire would carry. */
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        perror("pathemu: TUNSETIFF");
        close(fd);
        return -1;
    }
    return fd;
}

/* Takes one packet read from l->in_fd at `now`: queued for the link, or
 * dropped at the tail when the queue already holds queue_bytes. */
static void accept_packet(struct link *l, const uint8_t *data, size_t size, uint64_t now,
                          uint64_t delay_ns, uint64_t rate_bps, uint64_t queue_bytes)
{
    l->packets_in++;
    uint64_t start = l->busy_until_ns > now ? l->busy_until_ns : now;
    /* Bytes still waiting to be serialised ahead of this packet. */
    uint64_t queued = (start - now) * rate_bps / 8 / 1000000000u;
    if (queued + size > queue_bytes) {
        l->tail_drops++;
        return;
    }
    if (l->count == SLOTS) {
        l->ring_drops++;
        return;
    }
    uint64_t done = start + (uint64_t)size * 8 * 1000000000u / rate_bps;
    l->busy_until_ns = done;
    struct packet *p = &l->ring[(l->head + l->count) % SLOTS];
    p->deliver_ns = done + delay_ns;
    p->size = (uint16_t)size;
    memcpy(p->data, data, size);
    l->count++;
}

/* Writes every packet whose time has come; returns when the next is due
 * (UINT64_MAX when none waits). */
static uint64_t deliver(struct link *l, uint64_t now)
{
    while (l->count > 0) {
        struct packet *p = &l->ring[l->head];
        if (p->deliver_ns > now)
            return p->deliver_ns;
        /* A full device queue on the far side drops the packet, as a wire
         * would: TCP recovers. */
        if (write(l->out_fd, p->data, p->size) < 0)
            l->write_errors++;
        else {
            l->packets_out++;
            l->bytes_out += p->size;
        }
        l->head = (l->head + 1) % SLOTS;
        l->count--;
    }
    return UINT64_MAX;
}

static void read_burst(struct link *l, uint64_t delay_ns, uint64_t rate_bps, uint64_t queue_bytes)
{
    uint8_t buf[PACKET_MAX];
    for (int i = 0; i < READ_BURST; i++) {
        ssize_t got = read(l->in_fd, buf, sizeof(buf));
        if (got <= 0)
            return;
        accept_packet(l, buf, (size_t)got, now_ns(), delay_ns, rate_bps, queue_bytes);
    }
}

static void print_counters(const struct link *l)
{
    printf("%s packets_in %llu packets_out %llu bytes_out %llu tail_drops %llu ring_drops %llu "
           "write_errors %llu\n",
           l->name, (unsigned long long)l->packets_in, (unsigned long long)l->packets_out,
           (unsigned long long)l->bytes_out, (unsigned long long)l->tail_drops,
           (unsigned long long)l->ring_drops, (unsigned long long)l->write_errors);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr,
                "usage: pathemu CLIENT_DEV SERVER_DEV DELAY_US RATE_BITS_PER_S QUEUE_BYTES\n");
        return 2;
    }
    uint64_t delay_ns = strtoull(argv[3], NULL, 10) * 1000u;
    uint64_t rate_bps = strtoull(argv[4], NULL, 10);
    uint64_t queue_bytes = strtoull(argv[5], NULL, 10);
    if (rate_bps == 0 || queue_bytes < PACKET_MAX) {
        fprintf(stderr, "pathemu: the rate must be > 0 and the queue hold one packet\n");
        return 2;
    }
    int status = 1;
    struct link up = {.name = "client_to_server"};
    struct link down = {.name = "server_to_client"};
    up.ring = calloc(SLOTS, sizeof(struct packet));
    down.ring = calloc(SLOTS, sizeof(struct packet));
    if (up.ring == NULL || down.ring == NULL) {
        fprintf(stderr, "pathemu: out of memory\n");
        goto fail_rings;
    }
    int client_fd = open_tun(argv[1]);
    if (client_fd < 0)
        goto fail_rings;
    if (unshare(CLONE_NEWNET) < 0) {
        perror("pathemu: unshare(CLONE_NEWNET)");
        goto fail_client;
    }
    int server_fd = open_tun(argv[2]);
    if (server_fd < 0)
        goto fail_client;
    up.in_fd = client_fd;
    up.out_fd = server_fd;
    down.in_fd = server_fd;
    down.out_fd = client_fd;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("ready %ld\n", (long)getpid());
    fflush(stdout);

    while (!stopping) {
        uint64_t now = now_ns();
        uint64_t next_up = deliver(&up, now);
        uint64_t next_down = deliver(&down, now);
        uint64_t next = next_up < next_down ? next_up : next_down;
        struct pollfd fds[3] = {
            {.fd = client_fd, .events = POLLIN},
            {.fd = server_fd, .events = POLLIN},
            {.fd = STDIN_FILENO, .events = POLLIN},
        };
        struct timespec wait = {.tv_sec = 1, .tv_nsec = 0};
        if (next != UINT64_MAX) {
            uint64_t left = next > now ? next - now : 0;
            wait.tv_sec = (time_t)(left / 1000000000u);
            wait.tv_nsec = (long)(left % 1000000000u);
        }
        int ready = ppoll(fds, 3, &wait, NULL);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            perror("pathemu: ppoll");
            break;
        }
        if (fds[2].revents != 0) {
            /* A line: the harness asks for the counters; EOF: it is gone. */
            char request[256];
            if (read(STDIN_FILENO, request, sizeof(request)) <= 0)
                break;
            print_counters(&up);
            print_counters(&down);
            printf("end\n");
            fflush(stdout);
        }
        if (fds[0].revents & POLLIN)
            read_burst(&up, delay_ns, rate_bps, queue_bytes);
        if (fds[1].revents & POLLIN)
            read_burst(&down, delay_ns, rate_bps, queue_bytes);
    }
    print_counters(&up);
    print_counters(&down);
    printf("end\n");
    fflush(stdout);
    status = 0;
    close(server_fd);
fail_client:
    close(client_fd);
fail_rings:
    free(up.ring);
    free(down.ring);
    return status;
}
