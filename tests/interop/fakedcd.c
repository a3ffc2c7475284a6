/*
 * Copyright (c) ntpservice developers. See LICENSE for details.
 *
 * A pulse-per-second on the DCD line of a terminal that has none (a pty),
 * for tests/interop/test_gpsd.py: loaded into gpsd with LD_PRELOAD, it
 * answers gpsd's ioctl(TIOCMIWAIT) by sleeping until the next edge of a
 * 1 Hz pulse (DCD up at the start of each second of the system clock,
 * down 100 ms later) and ioctl(TIOCMGET) with the line's level; every
 * other ioctl goes to the C library. gpsd then runs its own PPS code
 * (ppsthread.c's TIOCMIWAIT path) as with a receiver on a serial port.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <time.h>

static int level = 0;

int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    void *arg;
    static int (*real)(int, unsigned long, void *) = 0;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (request == TIOCMIWAIT) {
        struct timespec now, edge;
        clock_gettime(CLOCK_REALTIME, &now);
        edge.tv_sec = now.tv_sec;
        if (level) {
            edge.tv_nsec = 100000000;
            if (now.tv_nsec > edge.tv_nsec)
                edge = now;
        } else {
            edge.tv_sec += 1;
            edge.tv_nsec = 0;
        }
        while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &edge, 0) == EINTR)
            ;
        level = level ? 0 : TIOCM_CD;
        return 0;
    }
    if (request == TIOCMGET) {
        *(int *)arg = level;
        return 0;
    }
    if (!real)
        real = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");
    return real(fd, request, arg);
}
