/*
 * Copyright (c) ntpservice developers. See LICENSE for details.
 *
 * _ntpservice_fastpath: the compiled server fast path of ntpservice.
 *
 * Theory of operation
 * ===================
 *
 * One FastPath object per daemon.  Python pushes it what the reply to the
 * common request depends on (the restrict list, the system variables, the
 * addresses and ports of the associations, the discard and mru settings)
 * and hands it the sockets Twisted bound (and, with several threads, the
 * extra SO_REUSEPORT sockets bound beside them).  Native threads, which
 * never take the GIL, poll their sockets, read batches with recvmmsg
 * (kernel receive timestamps, IP_PKTINFO / IPV6_PKTINFO) and answer the
 * common request here:
 *
 *     48 bytes, mode 3, version 1-4, no MAC or extension field, sent to a
 *     unicast address, source port not 0, not from the address and port of
 *     an association, and no "flake" restriction (it needs Python's
 *     random source).
 *
 * Everything else is put on a queue and handed to the Python path (an
 * eventfd wakes the reactor), which processes it exactly as before.
 *
 * The decisions replicate ntpservice.core.access.serverDecision and
 * ntpservice.core.mru.MRUList.observe to the bit (same floating-point
 * operations in the same order); the reply replicates
 * ntpservice.core.server.encodeServerReply; the transmit timestamp is read
 * from CLOCK_REALTIME as the last step before one sendmsg per reply.
 *
 * The MRU list lives here, in one shard per thread: the kernel steers
 * datagrams to threads by source address (a classic BPF program attached
 * with SO_ATTACH_REUSEPORT_CBPF computing the same function as shardOf),
 * and the Python path uses the same shards (MRU methods of FastPath), so an
 * address always meets one leaky bucket, whichever path or thread sees it.
 *
 * Counters are kept per thread and folded into the daemon's PacketCounters
 * by takeCounters().
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_RECVFRAGSIZE
#define IP_RECVFRAGSIZE 25
#endif
#ifndef IPV6_RECVFRAGSIZE
#define IPV6_RECVFRAGSIZE 77
#endif

#define FP_ABI 2
#define BATCH 32
#define MAX_DGRAM 8192
#define MAX_THREADS 64
#define MAX_SOCKETS 64
#define PUNT_LIMIT 16384
#define NIL UINT32_MAX
#define PHI 15e-6

/* Restriction flags: bit i is FLAG_NAMES[i]. */
static const char *FLAG_NAMES[] = {
    "ignore", "noserve", "noquery", "nomodify", "nopeer", "noepeer",
    "notrust", "notrap", "lowpriotrap", "kod", "limited", "ntpport",
    "version", "nomrulist", "flake", "mssntp", "serverresponse fuzz",
    "interface", NULL};
#define F_IGNORE (1u << 0)
#define F_NOSERVE (1u << 1)
#define F_NOTRUST (1u << 6)
#define F_KOD (1u << 9)
#define F_LIMITED (1u << 10)
#define F_VERSION (1u << 12)
#define F_FLAKE (1u << 14)
#define F_FUZZ (1u << 16)

/* Counters: the names are the daemon's (ntpservice.core.counters). */
enum {
    C_RECEIVED, C_SENT, C_VCUR, C_VOLD, C_V1, C_V1CLIENT,
    C_IGNORED, C_NOSERVE, C_BADVERSION, C_NOTRUST, C_RATELIMITED, C_KODSENT,
    C_FP_REPLIES, C_FP_PUNTED, C_FP_PUNTDROPPED, C_FP_SENDERRORS, C_LEAKED, C_N
};
static const char *COUNTER_NAMES[C_N] = {
    "received", "sent", "version.current", "version.old", "version.1",
    "version.1.client", "access.ignored", "access.noserve",
    "access.badversion", "access.notrust", "access.ratelimited",
    "access.kodsent", "fastpath.replies", "fastpath.punted",
    "fastpath.puntdropped", "fastpath.senderrors", "ratelimit.leaked"};

/* Outcomes of fp_process. */
enum { R_REPLY = 0, R_KOD = 1, R_DROP = 2, R_PUNT = 3 };

/* ------------------------------------------------------------------ */
/* Keys, addresses                                                      */

typedef struct {
    uint8_t fam; /* 4, 6: binary address; 0: text (from Python only) */
    uint8_t len;
    uint8_t b[62];
} fp_key;

static uint32_t
key_hash(const fp_key *k)
{
    uint32_t h = 2166136261u ^ k->fam;
    for (int i = 0; i < k->len; i++) {
        h ^= k->b[i];
        h *= 16777619u;
    }
    return h;
}

static int
key_eq(const fp_key *a, const fp_key *b)
{
    return a->fam == b->fam && a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* ------------------------------------------------------------------ */
/* The MRU list (ntpservice.core.mru.MRUList, one shard)                */

typedef struct {
    fp_key key;
    uint32_t hnext, prev, next;
    double first, last, lastKiss;
    int hasKiss;
    uint64_t count, dropped;
    int64_t leak;
    uint32_t flags;
    uint16_t port;
    uint8_t mode, version, over, kissOK, leaked;
} fp_entry;

typedef struct {
    pthread_mutex_t lock;
    fp_entry *e;
    uint32_t alloc, used, n;
    uint32_t freelist;
    uint32_t *buckets;
    uint32_t nbuckets;
    uint32_t oldest, newest;
    /* settings */
    int64_t mindepth, maxdepth, maxage, minage; /* minage < 0: none */
    int64_t monitor, head, limit, minimum;
    int hasRandom;
    uint64_t rng;
    /* discard leak: the mask of the draw (0: nothing leaks) and the state of
       its generator (ntpservice.core.mru.nextLeakState) */
    uint32_t leakMask;
    uint64_t leakState;
    /* statistics */
    uint64_t peak, newEntries, recycledOld, recycledFull, notRecorded, existing;
} fp_shard;

static double
shard_random(fp_shard *s)
{
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    return (double)(x >> 11) / 9007199254740992.0;
}

/* ntpservice.core.mru.nextLeakState: xorshift64 (13, 7, 17). */
static uint64_t
leak_next(uint64_t x)
{
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

/* The discard leak draw for a packet over the limit (MRUList.observe). */
static uint8_t
shard_leak(fp_shard *s)
{
    if (!s->leakMask)
        return 0;
    s->leakState = leak_next(s->leakState);
    return (uint8_t)((((uint32_t)(s->leakState >> 32)) & s->leakMask) == 0);
}

static int
shard_init(fp_shard *s, int64_t capacity)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->alloc = capacity > 0 ? (uint32_t)capacity : 0;
    s->e = s->alloc ? calloc(s->alloc, sizeof(fp_entry)) : NULL;
    s->nbuckets = 64;
    while (s->nbuckets < s->alloc * 2 && s->nbuckets < (1u << 30))
        s->nbuckets <<= 1;
    s->buckets = malloc(sizeof(uint32_t) * s->nbuckets);
    if ((s->alloc && !s->e) || !s->buckets)
        return -1;
    for (uint32_t i = 0; i < s->nbuckets; i++)
        s->buckets[i] = NIL;
    s->oldest = s->newest = s->freelist = NIL;
    if (getrandom(&s->rng, sizeof(s->rng), 0) != sizeof(s->rng) || !s->rng)
        s->rng = 0x9E3779B97F4A7C15ull;
    return 0;
}

static void
shard_free(fp_shard *s)
{
    free(s->e);
    free(s->buckets);
    s->e = NULL;
    s->buckets = NULL;
    pthread_mutex_destroy(&s->lock);
}

static uint32_t
shard_find(fp_shard *s, const fp_key *k)
{
    uint32_t i = s->buckets[key_hash(k) & (s->nbuckets - 1)];
    while (i != NIL && !key_eq(&s->e[i].key, k))
        i = s->e[i].hnext;
    return i;
}

static void
lru_unlink(fp_shard *s, uint32_t i)
{
    fp_entry *e = &s->e[i];
    if (e->prev != NIL)
        s->e[e->prev].next = e->next;
    else
        s->oldest = e->next;
    if (e->next != NIL)
        s->e[e->next].prev = e->prev;
    else
        s->newest = e->prev;
    e->prev = e->next = NIL;
}

static void
lru_append(fp_shard *s, uint32_t i)
{
    fp_entry *e = &s->e[i];
    e->next = NIL;
    e->prev = s->newest;
    if (s->newest != NIL)
        s->e[s->newest].next = i;
    else
        s->oldest = i;
    s->newest = i;
}

static void
hash_unlink(fp_shard *s, uint32_t i)
{
    uint32_t *p = &s->buckets[key_hash(&s->e[i].key) & (s->nbuckets - 1)];
    while (*p != NIL && *p != i)
        p = &s->e[*p].hnext;
    if (*p == i)
        *p = s->e[i].hnext;
}

static void
hash_link(fp_shard *s, uint32_t i)
{
    uint32_t *b = &s->buckets[key_hash(&s->e[i].key) & (s->nbuckets - 1)];
    s->e[i].hnext = *b;
    *b = i;
}

static void
entry_reset(fp_entry *e, const fp_key *k, int port, int mode, int version,
            double now, uint32_t flags)
{
    e->key = *k;
    e->port = (uint16_t)port;
    e->first = now;
    e->last = now;
    e->count = 1;
    e->mode = (uint8_t)mode;
    e->version = (uint8_t)version;
    e->flags = flags;
    e->leak = 0;
    e->over = 0;
    e->kissOK = 0;
    e->leaked = 0;
    e->hasKiss = 0;
    e->lastKiss = 0.0;
    e->dropped = 0;
}

static fp_entry *
shard_new(fp_shard *s, const fp_key *k, int port, int mode, int version,
          double now, uint32_t flags)
{
    uint32_t i;
    if (s->freelist != NIL) {
        i = s->freelist;
        s->freelist = s->e[i].hnext;
    } else if (s->used < s->alloc) {
        i = s->used++;
    } else {
        /* Cannot happen: the capacity bounds the entries. */
        s->notRecorded++;
        return NULL;
    }
    entry_reset(&s->e[i], k, port, mode, version, now, flags);
    hash_link(s, i);
    lru_append(s, i);
    s->n++;
    s->newEntries++;
    if (s->n > s->peak)
        s->peak = s->n;
    return &s->e[i];
}

/* MRUList.observe, lock held. */
static fp_entry *
shard_observe(fp_shard *s, const fp_key *k, int port, int mode, int version,
              double now, uint32_t flags)
{
    uint32_t i = shard_find(s, k);
    if (i != NIL) {
        fp_entry *e = &s->e[i];
        s->existing++;
        lru_unlink(s, i);
        lru_append(s, i);
        double delta = now - e->last;
        int64_t interval = delta > 0.0 ? (int64_t)(delta + 0.5) : 0;
        e->last = now;
        e->port = (uint16_t)port;
        e->count++;
        e->mode = (uint8_t)mode;
        e->version = (uint8_t)version;
        e->flags = flags;
        int64_t leak = e->leak - interval;
        if (leak < 0)
            leak = 0;
        int guarded = interval + 1 >= s->minimum;
        if (guarded && leak + s->head < s->limit) {
            e->leak = leak + s->head - 2;
            e->over = 0;
            e->kissOK = 0;
            e->leaked = 0;
            return e;
        }
        if (leak < s->limit) {
            e->leak = s->limit + s->head;
            /* With the leak on, only a packet that kept the guard time
               and broke the average earns a kiss (MRUList.observe). */
            e->kissOK = !s->leakMask || guarded;
        } else {
            e->leak = leak;
            e->kissOK = 0;
        }
        e->over = 1;
        e->leaked = shard_leak(s);
        return e;
    }
    int64_t count = s->n;
    if (count >= s->mindepth) {
        if (!count) {
            if (s->maxdepth > 0)
                return shard_new(s, k, port, mode, version, now, flags);
            s->notRecorded++;
            return NULL;
        }
        uint32_t o = s->oldest;
        fp_entry *oldest = &s->e[o];
        double age = now - oldest->last;
        int64_t oldestAge = age > 0.0 ? (int64_t)(age + 0.5) : 0;
        if (oldestAge > s->maxage) {
            s->recycledOld++;
        } else if (count < s->maxdepth) {
            return shard_new(s, k, port, mode, version, now, flags);
        } else if (s->minage >= 0) {
            if (oldestAge < s->minage) {
                s->notRecorded++;
                return NULL;
            }
            s->recycledFull++;
        } else {
            if (s->monitor > 0 && shard_random(s) > (double)oldestAge / (double)s->monitor) {
                s->notRecorded++;
                return NULL;
            }
            s->recycledFull++;
        }
        hash_unlink(s, o);
        lru_unlink(s, o);
        entry_reset(oldest, k, port, mode, version, now, flags);
        hash_link(s, o);
        lru_append(s, o);
        return oldest;
    }
    return shard_new(s, k, port, mode, version, now, flags);
}

static void
shard_remove(fp_shard *s, uint32_t i)
{
    hash_unlink(s, i);
    lru_unlink(s, i);
    s->e[i].hnext = s->freelist;
    s->freelist = i;
    s->n--;
}

/* ------------------------------------------------------------------ */
/* Configuration pushed from Python                                     */

typedef struct {
    uint64_t hi, lo;  /* IPv4: lo only */
    uint64_t mhi, mlo;
    uint32_t flags;
    uint8_t ntpport;
} fp_rule;

typedef struct {
    fp_rule *v4, *v6;
    int n4, n6;
} fp_restrict;

typedef struct {
    uint8_t fam;
    uint8_t addr[16];
    uint16_t port;
} fp_assoc;

typedef struct {
    int leap, stratum, precision;
    uint32_t rootDelay;
    double rootDisp;
    int hasUpdate;
    int64_t lastUpdateNs;
    uint8_t refid[4];
    uint64_t reftime;
} fp_system;

/* ------------------------------------------------------------------ */
/* Punted datagrams                                                     */

typedef struct punt {
    struct punt *next;
    int group;
    struct sockaddr_storage src;
    socklen_t srclen;
    int hasInfo, fam, ifindex, hasRx, fragsize;
    uint8_t dst[16], local[16];
    int64_t rxNs;
    size_t len;
    uint8_t data[];
} fp_punt;

/* ------------------------------------------------------------------ */
/* The object                                                           */

typedef struct {
    int fd, group, wildcard, family;
} fp_socket;

struct FastPath;

typedef struct {
    struct FastPath *fp;
    int index;
    pthread_t thread;
    int started;
    int nsock;
    fp_socket socks[MAX_SOCKETS];
    uint64_t counters[C_N];
} fp_thread;

typedef struct FastPath {
    PyObject_HEAD
    pthread_mutex_t cfgLock;
    fp_restrict restrict_;
    fp_system system;
    int hasSystem;
    fp_assoc *assocs;
    int nassocs;
    int discardAverage;
    int mruEnabled;
    int nshards;
    fp_shard *shards;
    int nthreads;
    fp_thread *threads;
    uint64_t pyCounters[C_N];   /* counts of handle() calls, under the GIL */
    uint64_t taken[C_N];
    volatile int running;
    int stopfd;
    int puntfd;
    pthread_mutex_t puntLock;
    fp_punt *puntHead, *puntTail;
    int puntCount;
} FastPath;

/* ------------------------------------------------------------------ */
/* Time and encoding                                                    */

static const int64_t OFFSET_NS = 2208988800LL * 1000000000LL;

static uint64_t
ntp_from_ns(int64_t ns)
{
    __int128 v = ((__int128)(ns + OFFSET_NS) << 32) + 500000000;
    /* Python's floor division; the dividend is positive after 1900. */
    __int128 q = v / 1000000000;
    if (v < 0 && q * 1000000000 != v)
        q -= 1;
    return (uint64_t)q;
}

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t
encode_short(double seconds)
{
    double scaled = seconds * 65536.0;
    if (scaled >= 4294967295.0)
        return 0xFFFFFFFFu;
    if (scaled > 0.0)
        return (uint32_t)(scaled + 0.5);
    return 0;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void
put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* The shard of an address: the function the BPF program computes. */
static int
shard_of(int nshards, const fp_key *k)
{
    if (nshards <= 1)
        return 0;
    if (k->fam == 4) {
        uint32_t a = ((uint32_t)k->b[0] << 24) | ((uint32_t)k->b[1] << 16) |
                     ((uint32_t)k->b[2] << 8) | k->b[3];
        return (int)(a % (uint32_t)nshards);
    }
    if (k->fam == 6) {
        uint32_t a = ((uint32_t)k->b[12] << 24) | ((uint32_t)k->b[13] << 16) |
                     ((uint32_t)k->b[14] << 8) | k->b[15];
        return (int)(a % (uint32_t)nshards);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The decision and the reply                                           */

typedef struct {
    const uint8_t *data;
    size_t len;
    int fam;              /* AF_INET / AF_INET6 of the source */
    uint8_t src[16];      /* 4 or 16 bytes */
    uint16_t port;
    uint32_t scope;
    int hasInfo;
    uint8_t dst[16], local[16];
    int ifindex;
    int64_t rxNs;
    int fragsize;         /* largest IP fragment of a reassembled datagram, or 0 */
} fp_request;

static int
is_unicast(const fp_request *r)
{
    if (!r->hasInfo)
        return 1;
    if (r->fam == AF_INET6)
        return r->dst[0] != 0xff;
    if (r->dst[0] >= 224 && r->dst[0] <= 239)
        return 0;
    if (r->dst[0] == 255 && r->dst[1] == 255 && r->dst[2] == 255 && r->dst[3] == 255)
        return 0;
    return memcmp(r->dst, r->local, 4) == 0;
}

static uint32_t
restrict_lookup(const fp_restrict *t, int fam4, uint64_t hi, uint64_t lo, int fromNtpPort,
                int *multicast)
{
    *multicast = 0;
    if (fam4) {
        if ((lo >> 28) == 0xE) {
            *multicast = 1;
            return F_IGNORE;
        }
        for (int i = 0; i < t->n4; i++) {
            const fp_rule *r = &t->v4[i];
            if ((lo & r->mlo) == r->lo && (fromNtpPort || !r->ntpport))
                return r->flags;
        }
    } else {
        if ((hi >> 56) == 0xFF) {
            *multicast = 1;
            return F_IGNORE;
        }
        for (int i = 0; i < t->n6; i++) {
            const fp_rule *r = &t->v6[i];
            if ((hi & r->mhi) == r->hi && (lo & r->mlo) == r->lo &&
                (fromNtpPort || !r->ntpport))
                return r->flags;
        }
    }
    return 0;
}

/*
 * Decide and build: R_REPLY (out holds 48 bytes without the transmit
 * timestamp), R_KOD (out holds the kiss), R_DROP, or R_PUNT (nothing was
 * counted or recorded: the Python path takes it from the start).
 */
static int
fp_process(FastPath *fp, const fp_request *r, uint64_t *counters, uint8_t *out)
{
    const uint8_t *d = r->data;
    if (r->len != 48)
        return R_PUNT;
    int version = (d[0] >> 3) & 7, mode = d[0] & 7;
    if (mode != 3 || version < 1 || version > 4)
        return R_PUNT;
    if (r->port == 0 || !is_unicast(r))
        return R_PUNT;
    if (r->fam == AF_INET6 && r->scope != 0)
        return R_PUNT; /* scoped (link-local): Python keys it with its zone */

    fp_key key;
    int fam4;
    uint64_t hi = 0, lo = 0;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (r->fam == AF_INET) {
        key.fam = 4;
        key.len = 4;
        memcpy(key.b, r->src, 4);
        fam4 = 1;
        lo = ((uint64_t)r->src[0] << 24) | ((uint64_t)r->src[1] << 16) |
             ((uint64_t)r->src[2] << 8) | r->src[3];
    } else {
        key.fam = 6;
        key.len = 16;
        memcpy(key.b, r->src, 16);
        if (memcmp(r->src, mapped, 12) == 0) {
            fam4 = 1;
            lo = ((uint64_t)r->src[12] << 24) | ((uint64_t)r->src[13] << 16) |
                 ((uint64_t)r->src[14] << 8) | r->src[15];
        } else {
            fam4 = 0;
            for (int i = 0; i < 8; i++) {
                hi = (hi << 8) | r->src[i];
                lo = (lo << 8) | r->src[8 + i];
            }
        }
    }

    pthread_mutex_lock(&fp->cfgLock);
    if (!fp->hasSystem) {
        pthread_mutex_unlock(&fp->cfgLock);
        return R_PUNT;
    }
    for (int i = 0; i < fp->nassocs; i++) {
        const fp_assoc *a = &fp->assocs[i];
        if (a->port == r->port &&
            ((r->fam == AF_INET && a->fam == 4 && memcmp(a->addr, r->src, 4) == 0) ||
             (r->fam == AF_INET6 && a->fam == 6 && memcmp(a->addr, r->src, 16) == 0))) {
            pthread_mutex_unlock(&fp->cfgLock);
            return R_PUNT;
        }
    }
    int multicast;
    uint32_t flags = restrict_lookup(&fp->restrict_, fam4, hi, lo, r->port == 123, &multicast);
    if (!(flags & (F_IGNORE | F_NOSERVE)) && (flags & F_FLAKE)) {
        pthread_mutex_unlock(&fp->cfgLock);
        return R_PUNT;
    }
    fp_system sys = fp->system;
    int average = fp->discardAverage;
    int mruEnabled = fp->mruEnabled;
    pthread_mutex_unlock(&fp->cfgLock);

    /* What the multiplexer counts for every NTP packet. */
    counters[C_RECEIVED]++;
    if (version == 4) {
        counters[C_VCUR]++;
    } else {
        counters[C_VOLD]++;
        if (version == 1) {
            counters[C_V1]++;
            counters[C_V1CLIENT]++;
        }
    }
    /* access.serverDecision, steps 2 to 6 (the port is not 0). */
    if (flags & F_IGNORE) {
        counters[C_IGNORED]++;
        return R_DROP;
    }
    if (flags & F_NOSERVE) {
        counters[C_NOSERVE]++;
        return R_DROP;
    }
    if (version != 4 && (flags & F_VERSION)) {
        counters[C_BADVERSION]++;
        return R_DROP;
    }
    if (flags & F_NOTRUST) {
        counters[C_NOTRUST]++;
        return R_DROP;
    }
    (void)multicast;
    /* Step 7: the MRU list and its rate limit. */
    if (mruEnabled) {
        double now = (double)r->rxNs / 1e9;
        fp_shard *s = &fp->shards[shard_of(fp->nshards, &key)];
        int verdict = 0; /* 0 answer, 1 drop, 2 kiss */
        pthread_mutex_lock(&s->lock);
        fp_entry *e = shard_observe(s, &key, r->port, mode, version, now, flags);
        if (e != NULL && e->over && (flags & F_LIMITED)) {
            if (e->leaked) {
                counters[C_LEAKED]++; /* answered below: the discard leak */
            } else {
                e->dropped++;
                if ((flags & F_KOD) && e->kissOK) {
                    e->lastKiss = now;
                    e->hasKiss = 1;
                    verdict = 2;
                } else {
                    verdict = 1;
                }
            }
        }
        pthread_mutex_unlock(&s->lock);
        if (verdict) {
            counters[C_RATELIMITED]++;
            if (verdict == 1)
                return R_DROP;
            counters[C_KODSENT]++;
            /* buildKissOfDeath */
            int poll = (int8_t)d[2];
            if (poll < average)
                poll = average;
            if (poll > 127)
                poll = 127;
            out[0] = (uint8_t)((3 << 6) | (version << 3) | 4);
            out[1] = 0;
            out[2] = (uint8_t)(int8_t)poll;
            out[3] = d[3];
            memcpy(out + 4, d + 4, 8);
            memcpy(out + 12, "RATE", 4);
            memcpy(out + 16, d + 16, 8);
            memcpy(out + 24, d + 40, 8);
            memcpy(out + 32, d + 40, 8);
            memcpy(out + 40, d + 40, 8);
            return R_KOD;
        }
    }
    /* encodeServerReply */
    double disp = sys.rootDisp;
    if (sys.hasUpdate) {
        int64_t el = r->rxNs - sys.lastUpdateNs;
        if (el < 0)
            el = 0;
        disp = sys.rootDisp + PHI * ((double)el / 1e9);
    }
    uint64_t reftime = sys.reftime;
    if (flags & F_FUZZ)
        reftime &= ~((64ull << 32) - 1);
    out[0] = (uint8_t)((sys.leap << 6) | (version << 3) | 4);
    out[1] = (uint8_t)sys.stratum;
    out[2] = d[2];
    out[3] = (uint8_t)(int8_t)sys.precision;
    put32(out + 4, sys.rootDelay);
    put32(out + 8, encode_short(disp));
    memcpy(out + 12, sys.refid, 4);
    put64(out + 16, reftime);
    memcpy(out + 24, d + 40, 8);
    put64(out + 32, ntp_from_ns(r->rxNs));
    memset(out + 40, 0, 8);
    return R_REPLY;
}

/* ------------------------------------------------------------------ */
/* The threads                                                          */

static void
punt(FastPath *fp, fp_thread *t, int group, const fp_request *r, struct sockaddr_storage *src,
     socklen_t srclen, int hasRx)
{
    fp_punt *p = malloc(sizeof(fp_punt) + r->len);
    if (p == NULL) {
        t->counters[C_FP_PUNTDROPPED]++;
        return;
    }
    p->next = NULL;
    p->group = group;
    memcpy(&p->src, src, srclen);
    p->srclen = srclen;
    p->hasInfo = r->hasInfo;
    p->fam = r->fam;
    p->ifindex = r->ifindex;
    p->hasRx = hasRx;
    memcpy(p->dst, r->dst, 16);
    memcpy(p->local, r->local, 16);
    p->rxNs = r->rxNs;
    p->fragsize = r->fragsize;
    p->len = r->len;
    memcpy(p->data, r->data, r->len);
    pthread_mutex_lock(&fp->puntLock);
    if (fp->puntCount >= PUNT_LIMIT) {
        pthread_mutex_unlock(&fp->puntLock);
        free(p);
        t->counters[C_FP_PUNTDROPPED]++;
        return;
    }
    int wasEmpty = fp->puntHead == NULL;
    if (fp->puntTail)
        fp->puntTail->next = p;
    else
        fp->puntHead = p;
    fp->puntTail = p;
    fp->puntCount++;
    pthread_mutex_unlock(&fp->puntLock);
    t->counters[C_FP_PUNTED]++;
    if (wasEmpty) {
        uint64_t one = 1;
        ssize_t w = write(fp->puntfd, &one, sizeof(one));
        (void)w;
    }
}

static void
send_reply(fp_thread *t, const fp_socket *s, const fp_request *r, struct sockaddr_storage *src,
           socklen_t srclen, uint8_t *out, int stamp)
{
    struct iovec iov = {out, 48};
    union {
        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_name = src;
    msg.msg_namelen = srclen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (s->wildcard && r->hasInfo) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        struct cmsghdr *c = (struct cmsghdr *)control.buf;
        if (s->family == AF_INET6) {
            struct in6_pktinfo info;
            memset(&info, 0, sizeof(info));
            memcpy(&info.ipi6_addr, r->dst, 16);
            info.ipi6_ifindex = (unsigned)r->ifindex;
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(info));
            memcpy(CMSG_DATA(c), &info, sizeof(info));
            msg.msg_controllen = CMSG_SPACE(sizeof(info));
        } else {
            struct in_pktinfo info;
            memset(&info, 0, sizeof(info));
            memcpy(&info.ipi_spec_dst, r->local, 4);
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(info));
            memcpy(CMSG_DATA(c), &info, sizeof(info));
            msg.msg_controllen = CMSG_SPACE(sizeof(info));
        }
    }
    t->counters[C_SENT]++;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (stamp)
            put64(out + 40, ntp_from_ns(now_ns())); /* the last step */
        if (sendmsg(s->fd, &msg, 0) >= 0)
            return;
        if (errno != EINTR)
            break;
    }
    t->counters[C_FP_SENDERRORS]++;
}

static void
parse_control(struct msghdr *m, fp_request *r, int *hasRx)
{
    *hasRx = 0;
    r->hasInfo = 0;
    r->ifindex = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            r->rxNs = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
            *hasRx = 1;
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            memcpy(r->local, &info.ipi_spec_dst, 4);
            memcpy(r->dst, &info.ipi_addr, 4);
            r->ifindex = info.ipi_ifindex;
            r->hasInfo = 1;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            memcpy(r->dst, &info.ipi6_addr, 16);
            memcpy(r->local, &info.ipi6_addr, 16);
            r->ifindex = (int)info.ipi6_ifindex;
            r->hasInfo = 1;
        } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVFRAGSIZE) ||
                   (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVFRAGSIZE)) {
            /* Reassembled from IP fragments: the Python side drops such
               replies to its associations (ntpservice.net.udp). */
            memcpy(&r->fragsize, CMSG_DATA(c), sizeof(int));
        }
    }
}

typedef struct {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage names[BATCH];
    char control[BATCH][CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
    uint8_t bufs[BATCH][MAX_DGRAM];
} fp_batch;

static void
serve_socket(FastPath *fp, fp_thread *t, const fp_socket *s, fp_batch *b)
{
    for (int round = 0; round < 8 && fp->running; round++) {
        for (int i = 0; i < BATCH; i++) {
            b->iov[i].iov_base = b->bufs[i];
            b->iov[i].iov_len = MAX_DGRAM;
            struct msghdr *m = &b->msgs[i].msg_hdr;
            m->msg_name = &b->names[i];
            m->msg_namelen = sizeof(b->names[i]);
            m->msg_iov = &b->iov[i];
            m->msg_iovlen = 1;
            m->msg_control = b->control[i];
            m->msg_controllen = sizeof(b->control[i]);
            m->msg_flags = 0;
        }
        int n = recvmmsg(s->fd, b->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++) {
            struct msghdr *m = &b->msgs[i].msg_hdr;
            fp_request r;
            int hasRx;
            memset(&r, 0, sizeof(r));
            r.data = b->bufs[i];
            r.len = b->msgs[i].msg_len;
            struct sockaddr_storage *src = &b->names[i];
            if (src->ss_family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)src;
                r.fam = AF_INET;
                memcpy(r.src, &sin->sin_addr, 4);
                r.port = ntohs(sin->sin_port);
            } else if (src->ss_family == AF_INET6) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)src;
                r.fam = AF_INET6;
                memcpy(r.src, &sin6->sin6_addr, 16);
                r.port = ntohs(sin6->sin6_port);
                r.scope = sin6->sin6_scope_id;
            } else {
                continue;
            }
            parse_control(m, &r, &hasRx);
            if (!hasRx)
                r.rxNs = now_ns();
            uint8_t out[48];
            int what = (m->msg_flags & MSG_TRUNC) ? R_PUNT : fp_process(fp, &r, t->counters, out);
            if (what == R_PUNT) {
                punt(fp, t, s->group, &r, src, m->msg_namelen, hasRx);
            } else if (what == R_REPLY) {
                t->counters[C_FP_REPLIES]++;
                send_reply(t, s, &r, src, m->msg_namelen, out, 1);
            } else if (what == R_KOD) {
                send_reply(t, s, &r, src, m->msg_namelen, out, 0);
            }
        }
        if (n < BATCH)
            return;
    }
}

static void *
thread_main(void *arg)
{
    fp_thread *t = arg;
    FastPath *fp = t->fp;
    fp_batch *b = malloc(sizeof(fp_batch));
    if (b == NULL)
        return NULL;
    struct pollfd pfd[MAX_SOCKETS + 1];
    for (int i = 0; i < t->nsock; i++) {
        pfd[i].fd = t->socks[i].fd;
        pfd[i].events = POLLIN;
    }
    pfd[t->nsock].fd = fp->stopfd;
    pfd[t->nsock].events = POLLIN;
    while (fp->running) {
        int n = poll(pfd, (nfds_t)t->nsock + 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (!fp->running || pfd[t->nsock].revents)
            break;
        for (int i = 0; i < t->nsock; i++)
            if (pfd[i].revents & (POLLIN | POLLERR))
                serve_socket(fp, t, &t->socks[i], b);
    }
    free(b);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Python methods                                                       */

static int
parse_text_key(const char *text, fp_key *k)
{
    unsigned char buf[16];
    char back[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, text, buf) == 1 &&
        inet_ntop(AF_INET, buf, back, sizeof(back)) && strcmp(back, text) == 0) {
        k->fam = 4;
        k->len = 4;
        memcpy(k->b, buf, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, buf) == 1 &&
        inet_ntop(AF_INET6, buf, back, sizeof(back)) && strcmp(back, text) == 0) {
        k->fam = 6;
        k->len = 16;
        memcpy(k->b, buf, 16);
        return 0;
    }
    size_t n = strlen(text);
    if (n > sizeof(k->b))
        return -1;
    k->fam = 0;
    k->len = (uint8_t)n;
    memcpy(k->b, text, n);
    return 0;
}

static PyObject *
key_text(const fp_key *k)
{
    char buf[INET6_ADDRSTRLEN];
    if (k->fam == 4) {
        inet_ntop(AF_INET, k->b, buf, sizeof(buf));
        return PyUnicode_FromString(buf);
    }
    if (k->fam == 6) {
        inet_ntop(AF_INET6, k->b, buf, sizeof(buf));
        return PyUnicode_FromString(buf);
    }
    return PyUnicode_FromStringAndSize((const char *)k->b, k->len);
}

static void
fp_dealloc(FastPath *self);

static int
fp_init(FastPath *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"threads", "mindepth", "maxdepth", "maxage", "minage",
                             "average", "minimum", "monitor", "random", "mru",
                             "leak", "leakSeed", NULL};
    int threads = 1, average = 3, hasRandom = 1, mru = 1, leakBits = 2;
    long long mindepth = 600, maxdepth = 1638, maxage = 64, minage = -1, minimum = 2,
              monitor = 3000;
    PyObject *leakSeedObj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|iLLLLiLLppiO", kwlist, &threads, &mindepth,
                                     &maxdepth, &maxage, &minage, &average, &minimum,
                                     &monitor, &hasRandom, &mru, &leakBits, &leakSeedObj))
        return -1;
    if (leakBits < 0 || leakBits > 4) {
        PyErr_SetString(PyExc_ValueError, "leak must be 0-4");
        return -1;
    }
    /* The leak's seed: given (tests compare both paths with one seed), or
       from the system's random source. */
    uint64_t leakSeed = 0;
    if (leakSeedObj != Py_None) {
        leakSeed = PyLong_AsUnsignedLongLongMask(leakSeedObj);
        if (leakSeed == (uint64_t)-1 && PyErr_Occurred())
            return -1;
    } else if (getrandom(&leakSeed, sizeof(leakSeed), 0) != sizeof(leakSeed)) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (threads < 1 || threads > MAX_THREADS) {
        PyErr_SetString(PyExc_ValueError, "threads must be 1-64");
        return -1;
    }
    if (self->shards != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    pthread_mutex_init(&self->cfgLock, NULL);
    pthread_mutex_init(&self->puntLock, NULL);
    self->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->puntfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->stopfd < 0 || self->puntfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->discardAverage = average;
    self->mruEnabled = mru;
    self->nthreads = threads;
    self->nshards = threads;
    self->threads = calloc((size_t)threads, sizeof(fp_thread));
    self->shards = calloc((size_t)threads, sizeof(fp_shard));
    if (!self->threads || !self->shards) {
        PyErr_NoMemory();
        return -1;
    }
    int64_t capacity = maxdepth > mindepth ? maxdepth : mindepth;
    for (int i = 0; i < threads; i++) {
        fp_shard *s = &self->shards[i];
        int64_t per = (capacity + threads - 1) / threads;
        if (shard_init(s, per) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        s->mindepth = (mindepth + threads - 1) / threads;
        s->maxdepth = (maxdepth + threads - 1) / threads;
        s->maxage = maxage;
        s->minage = (minage < 0 && !hasRandom) ? 64 : minage;
        s->monitor = monitor;
        s->head = (int64_t)1 << average;
        s->limit = 8 * s->head;
        s->minimum = minimum;
        s->hasRandom = hasRandom;
        s->leakMask = leakBits ? (1u << leakBits) - 1 : 0;
        s->leakState = leakSeed ^ ((uint64_t)i * 0xD1B54A32D192ED03ull);
        if (!s->leakState)
            s->leakState = 0x9E3779B97F4A7C15ull;
        self->threads[i].fp = self;
        self->threads[i].index = i;
    }
    return 0;
}

static PyObject *
fp_stop_impl(FastPath *self)
{
    if (self->running) {
        self->running = 0;
        uint64_t one = 1;
        ssize_t w = write(self->stopfd, &one, sizeof(one));
        (void)w;
        Py_BEGIN_ALLOW_THREADS
        for (int i = 0; i < self->nthreads; i++)
            if (self->threads[i].started) {
                pthread_join(self->threads[i].thread, NULL);
                self->threads[i].started = 0;
            }
        Py_END_ALLOW_THREADS
        uint64_t v;
        ssize_t r = read(self->stopfd, &v, sizeof(v));
        (void)r;
    }
    Py_RETURN_NONE;
}

static void
fp_dealloc(FastPath *self)
{
    if (self->threads)
        fp_stop_impl(self);
    if (self->shards) {
        for (int i = 0; i < self->nshards; i++)
            shard_free(&self->shards[i]);
        free(self->shards);
    }
    free(self->threads);
    free(self->restrict_.v4);
    free(self->restrict_.v6);
    free(self->assocs);
    fp_punt *p = self->puntHead;
    while (p) {
        fp_punt *n = p->next;
        free(p);
        p = n;
    }
    if (self->stopfd > 0)
        close(self->stopfd);
    if (self->puntfd > 0)
        close(self->puntfd);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
fp_setSystem(FastPath *self, PyObject *args)
{
    int leap, stratum, precision;
    unsigned long rootDelay;
    double rootDisp;
    PyObject *lastUpdate;
    Py_buffer refid;
    unsigned long long reftime;
    if (!PyArg_ParseTuple(args, "iiikdOy*K", &leap, &stratum, &precision, &rootDelay,
                          &rootDisp, &lastUpdate, &refid, &reftime))
        return NULL;
    fp_system s;
    memset(&s, 0, sizeof(s));
    s.leap = leap;
    s.stratum = stratum;
    s.precision = precision;
    s.rootDelay = (uint32_t)rootDelay;
    s.rootDisp = rootDisp;
    if (lastUpdate != Py_None) {
        s.hasUpdate = 1;
        s.lastUpdateNs = PyLong_AsLongLong(lastUpdate);
        if (PyErr_Occurred()) {
            PyBuffer_Release(&refid);
            return NULL;
        }
    }
    memcpy(s.refid, refid.buf, refid.len < 4 ? (size_t)refid.len : 4);
    PyBuffer_Release(&refid);
    s.reftime = reftime;
    pthread_mutex_lock(&self->cfgLock);
    self->system = s;
    self->hasSystem = 1;
    pthread_mutex_unlock(&self->cfgLock);
    Py_RETURN_NONE;
}

/* setRestrict([(family, network:int, mask:int, ntpport, flags), ...]) in match order */
static PyObject *
fp_setRestrict(FastPath *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "a sequence of rules");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    fp_rule *v4 = calloc((size_t)n + 1, sizeof(fp_rule));
    fp_rule *v6 = calloc((size_t)n + 1, sizeof(fp_rule));
    int n4 = 0, n6 = 0;
    if (!v4 || !v6)
        goto nomem;
    for (Py_ssize_t i = 0; i < n; i++) {
        int family, ntpport;
        unsigned long flags;
        const char *nb, *mb;
        Py_ssize_t nlen, mlen;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iy#y#pk", &family, &nb, &nlen,
                              &mb, &mlen, &ntpport, &flags))
            goto fail;
        if (nlen != 16 || mlen != 16) {
            PyErr_SetString(PyExc_ValueError, "network and mask are 16 bytes");
            goto fail;
        }
        fp_rule r;
        memset(&r, 0, sizeof(r));
        for (int j = 0; j < 8; j++) {
            r.hi = (r.hi << 8) | (uint8_t)nb[j];
            r.lo = (r.lo << 8) | (uint8_t)nb[8 + j];
            r.mhi = (r.mhi << 8) | (uint8_t)mb[j];
            r.mlo = (r.mlo << 8) | (uint8_t)mb[8 + j];
        }
        r.flags = (uint32_t)flags;
        r.ntpport = (uint8_t)ntpport;
        if (family == 4)
            v4[n4++] = r;
        else
            v6[n6++] = r;
    }
    Py_DECREF(seq);
    pthread_mutex_lock(&self->cfgLock);
    fp_rule *o4 = self->restrict_.v4, *o6 = self->restrict_.v6;
    self->restrict_.v4 = v4;
    self->restrict_.v6 = v6;
    self->restrict_.n4 = n4;
    self->restrict_.n6 = n6;
    pthread_mutex_unlock(&self->cfgLock);
    free(o4);
    free(o6);
    Py_RETURN_NONE;
nomem:
    PyErr_NoMemory();
fail:
    Py_DECREF(seq);
    free(v4);
    free(v6);
    return NULL;
}

/* setAssociations([(address:str, port), ...]) */
static PyObject *
fp_setAssociations(FastPath *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "a sequence of (address, port)");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    fp_assoc *a = calloc((size_t)n + 1, sizeof(fp_assoc));
    int k = 0;
    if (!a) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *addr;
        int port;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "si", &addr, &port)) {
            Py_DECREF(seq);
            free(a);
            return NULL;
        }
        if (inet_pton(AF_INET, addr, a[k].addr) == 1)
            a[k].fam = 4;
        else if (inet_pton(AF_INET6, addr, a[k].addr) == 1)
            a[k].fam = 6;
        else
            continue; /* a scoped address: its packets are punted anyway */
        a[k].port = (uint16_t)port;
        k++;
    }
    Py_DECREF(seq);
    pthread_mutex_lock(&self->cfgLock);
    fp_assoc *old = self->assocs;
    self->assocs = a;
    self->nassocs = k;
    pthread_mutex_unlock(&self->cfgLock);
    free(old);
    Py_RETURN_NONE;
}

static int
parse_addr(const char *text, int *fam, uint8_t *out)
{
    if (text == NULL)
        return 0;
    if (inet_pton(AF_INET, text, out) == 1) {
        *fam = AF_INET;
        return 1;
    }
    if (inet_pton(AF_INET6, text, out) == 1) {
        *fam = AF_INET6;
        return 1;
    }
    return -1;
}

/*
 * handle(data, host, port, destination, localAddress, ifindex, rxNs, txNs)
 * -> (outcome, bytes|None): the decision and the reply, as the threads make
 * them, for tests that compare both paths (outcome: "reply", "kod",
 * "drop", "punt").
 */
static PyObject *
fp_handle(FastPath *self, PyObject *args)
{
    Py_buffer data;
    const char *host, *dest, *local;
    int port, ifindex;
    long long rxNs, txNs;
    if (!PyArg_ParseTuple(args, "y*sizziLL", &data, &host, &port, &dest, &local, &ifindex,
                          &rxNs, &txNs))
        return NULL;
    fp_request r;
    memset(&r, 0, sizeof(r));
    r.data = data.buf;
    r.len = (size_t)data.len;
    int fam;
    if (parse_addr(host, &fam, r.src) != 1) {
        PyBuffer_Release(&data);
        return Py_BuildValue("(sO)", "punt", Py_None);
    }
    r.fam = fam;
    r.port = (uint16_t)port;
    r.ifindex = ifindex;
    r.rxNs = rxNs;
    if (dest != NULL) {
        int f2;
        if (parse_addr(dest, &f2, r.dst) != 1 ||
            (local != NULL && parse_addr(local, &f2, r.local) != 1)) {
            PyBuffer_Release(&data);
            return Py_BuildValue("(sO)", "punt", Py_None);
        }
        if (local == NULL) {
            /* no local address: isUnicast compares nothing */
            memcpy(r.local, r.dst, 16);
        }
        r.hasInfo = 1;
    }
    uint8_t out[48];
    int what = fp_process(self, &r, self->pyCounters, out);
    PyBuffer_Release(&data);
    if (what == R_REPLY) {
        self->pyCounters[C_FP_REPLIES]++;
        self->pyCounters[C_SENT]++;
        put64(out + 40, ntp_from_ns(txNs));
        return Py_BuildValue("(sy#)", "reply", out, (Py_ssize_t)48);
    }
    if (what == R_KOD) {
        self->pyCounters[C_SENT]++;
        return Py_BuildValue("(sy#)", "kod", out, (Py_ssize_t)48);
    }
    return Py_BuildValue("(sO)", what == R_DROP ? "drop" : "punt", Py_None);
}

/* start([(fd, group, wildcard, family, thread), ...]) */
static PyObject *
fp_start(FastPath *self, PyObject *arg)
{
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "already running");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(arg, "a sequence of sockets");
    if (!seq)
        return NULL;
    for (int i = 0; i < self->nthreads; i++)
        self->threads[i].nsock = 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        fp_socket s;
        int thread;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iipii", &s.fd, &s.group,
                              &s.wildcard, &s.family, &thread)) {
            Py_DECREF(seq);
            return NULL;
        }
        if (thread < 0 || thread >= self->nthreads ||
            self->threads[thread].nsock >= MAX_SOCKETS) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "bad thread index or too many sockets");
            return NULL;
        }
        self->threads[thread].socks[self->threads[thread].nsock++] = s;
    }
    Py_DECREF(seq);
    self->running = 1;
    for (int i = 0; i < self->nthreads; i++) {
        fp_thread *t = &self->threads[i];
        if (t->nsock == 0)
            continue;
        if (pthread_create(&t->thread, NULL, thread_main, t) != 0) {
            int e = errno;
            fp_stop_impl(self);
            errno = e;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        t->started = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *
fp_stop(FastPath *self, PyObject *unused)
{
    return fp_stop_impl(self);
}

static PyObject *
addr_text(int fam, const uint8_t *a)
{
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(fam, a, buf, sizeof(buf));
    return PyUnicode_FromString(buf);
}

/* drainPunted() -> [(group, data, (host, port), destination, localAddress, ifindex, rxNs|None,
   fragmentSize)] */
static PyObject *
fp_drainPunted(FastPath *self, PyObject *unused)
{
    uint64_t v;
    ssize_t rr = read(self->puntfd, &v, sizeof(v));
    (void)rr;
    pthread_mutex_lock(&self->puntLock);
    fp_punt *p = self->puntHead;
    self->puntHead = self->puntTail = NULL;
    self->puntCount = 0;
    pthread_mutex_unlock(&self->puntLock);
    PyObject *list = PyList_New(0);
    while (p) {
        fp_punt *next = p->next;
        if (list) {
            char host[NI_MAXHOST];
            int port = 0;
            if (getnameinfo((struct sockaddr *)&p->src, p->srclen, host, sizeof(host), NULL, 0,
                            NI_NUMERICHOST) != 0)
                host[0] = 0;
            if (p->src.ss_family == AF_INET)
                port = ntohs(((struct sockaddr_in *)&p->src)->sin_port);
            else
                port = ntohs(((struct sockaddr_in6 *)&p->src)->sin6_port);
            PyObject *dest, *local;
            if (p->hasInfo) {
                dest = addr_text(p->fam, p->dst);
                local = addr_text(p->fam, p->local);
            } else {
                dest = Py_NewRef(Py_None);
                local = Py_NewRef(Py_None);
            }
            PyObject *rx = p->hasRx ? PyLong_FromLongLong(p->rxNs) : Py_NewRef(Py_None);
            PyObject *item = Py_BuildValue("(iy#(si)NNiNi)", p->group, p->data,
                                           (Py_ssize_t)p->len, host, port, dest, local,
                                           p->ifindex, rx, p->fragsize);
            if (item == NULL || PyList_Append(list, item) < 0) {
                Py_CLEAR(list);
            }
            Py_XDECREF(item);
        }
        free(p);
        p = next;
    }
    return list;
}

static PyObject *
fp_puntFileno(FastPath *self, PyObject *unused)
{
    return PyLong_FromLong(self->puntfd);
}

/* takeCounters() -> {name: increase since the last call} */
static PyObject *
fp_takeCounters(FastPath *self, PyObject *unused)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (int c = 0; c < C_N; c++) {
        uint64_t total = self->pyCounters[c];
        for (int i = 0; i < self->nthreads; i++)
            total += __atomic_load_n(&self->threads[i].counters[c], __ATOMIC_RELAXED);
        uint64_t delta = total - self->taken[c];
        self->taken[c] = total;
        if (delta) {
            PyObject *v = PyLong_FromUnsignedLongLong(delta);
            if (!v || PyDict_SetItemString(d, COUNTER_NAMES[c], v) < 0) {
                Py_XDECREF(v);
                Py_DECREF(d);
                return NULL;
            }
            Py_DECREF(v);
        }
    }
    return d;
}

/* -- the MRU list, for the Python path and mode 6 -- */

static PyObject *
entry_tuple(const fp_entry *e)
{
    PyObject *kiss = e->hasKiss ? PyFloat_FromDouble(e->lastKiss) : Py_NewRef(Py_None);
    return Py_BuildValue("(NiddKiikLiiNKi)", key_text(&e->key), (int)e->port, e->first,
                         e->last, (unsigned long long)e->count, (int)e->mode,
                         (int)e->version, (unsigned long)e->flags, (long long)e->leak,
                         (int)e->over, (int)e->kissOK, kiss, (unsigned long long)e->dropped,
                         (int)e->leaked);
}

static int
text_key(PyObject *args, fp_key *k, const char *address)
{
    (void)args;
    if (parse_text_key(address, k) < 0) {
        PyErr_SetString(PyExc_ValueError, "address too long");
        return -1;
    }
    return 0;
}

/* mruObserve(address, port, mode, version, now, flags) -> entry tuple or None */
static PyObject *
fp_mruObserve(FastPath *self, PyObject *args)
{
    const char *address;
    int port, mode, version;
    double now;
    unsigned long flags;
    if (!PyArg_ParseTuple(args, "siiidk", &address, &port, &mode, &version, &now, &flags))
        return NULL;
    fp_key k;
    if (text_key(args, &k, address) < 0)
        return NULL;
    fp_shard *s = &self->shards[shard_of(self->nshards, &k)];
    pthread_mutex_lock(&s->lock);
    fp_entry *e = shard_observe(s, &k, port, mode, version, now, (uint32_t)flags);
    PyObject *r = e ? entry_tuple(e) : Py_NewRef(Py_None);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* mruGet(address) -> entry tuple or None */
static PyObject *
fp_mruGet(FastPath *self, PyObject *args)
{
    const char *address;
    if (!PyArg_ParseTuple(args, "s", &address))
        return NULL;
    fp_key k;
    if (text_key(args, &k, address) < 0)
        return NULL;
    fp_shard *s = &self->shards[shard_of(self->nshards, &k)];
    pthread_mutex_lock(&s->lock);
    uint32_t i = shard_find(s, &k);
    PyObject *r = i != NIL ? entry_tuple(&s->e[i]) : Py_NewRef(Py_None);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* mruUpdate(address, dropped, lastKiss|None): what the access decision writes */
static PyObject *
fp_mruUpdate(FastPath *self, PyObject *args)
{
    const char *address;
    unsigned long long dropped;
    PyObject *kiss;
    if (!PyArg_ParseTuple(args, "sKO", &address, &dropped, &kiss))
        return NULL;
    double lastKiss = 0.0;
    if (kiss != Py_None) {
        lastKiss = PyFloat_AsDouble(kiss);
        if (PyErr_Occurred())
            return NULL;
    }
    fp_key k;
    if (text_key(args, &k, address) < 0)
        return NULL;
    fp_shard *s = &self->shards[shard_of(self->nshards, &k)];
    pthread_mutex_lock(&s->lock);
    uint32_t i = shard_find(s, &k);
    if (i != NIL) {
        s->e[i].dropped = dropped;
        s->e[i].hasKiss = kiss != Py_None;
        s->e[i].lastKiss = lastKiss;
    }
    pthread_mutex_unlock(&s->lock);
    Py_RETURN_NONE;
}

static PyObject *
fp_mruRemove(FastPath *self, PyObject *args)
{
    const char *address;
    if (!PyArg_ParseTuple(args, "s", &address))
        return NULL;
    fp_key k;
    if (text_key(args, &k, address) < 0)
        return NULL;
    fp_shard *s = &self->shards[shard_of(self->nshards, &k)];
    pthread_mutex_lock(&s->lock);
    uint32_t i = shard_find(s, &k);
    if (i != NIL)
        shard_remove(s, i);
    pthread_mutex_unlock(&s->lock);
    Py_RETURN_NONE;
}

static PyObject *
fp_mruClear(FastPath *self, PyObject *unused)
{
    for (int j = 0; j < self->nshards; j++) {
        fp_shard *s = &self->shards[j];
        pthread_mutex_lock(&s->lock);
        while (s->oldest != NIL)
            shard_remove(s, s->oldest);
        pthread_mutex_unlock(&s->lock);
    }
    Py_RETURN_NONE;
}

/* mruEntries() -> [[entry tuple, ...] per shard], each oldest first */
static PyObject *
fp_mruEntries(FastPath *self, PyObject *unused)
{
    PyObject *out = PyList_New(self->nshards);
    if (!out)
        return NULL;
    for (int j = 0; j < self->nshards; j++) {
        fp_shard *s = &self->shards[j];
        pthread_mutex_lock(&s->lock);
        PyObject *l = PyList_New(s->n);
        Py_ssize_t idx = 0;
        for (uint32_t i = s->oldest; l && i != NIL; i = s->e[i].next) {
            PyObject *t = entry_tuple(&s->e[i]);
            if (!t) {
                Py_CLEAR(l);
                break;
            }
            PyList_SET_ITEM(l, idx++, t);
        }
        pthread_mutex_unlock(&s->lock);
        if (!l) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, j, l);
    }
    return out;
}

/* mruStats() -> (entries, peak, new, recycledOld, recycledFull, none, exists) */
static PyObject *
fp_mruStats(FastPath *self, PyObject *unused)
{
    unsigned long long v[7] = {0};
    for (int j = 0; j < self->nshards; j++) {
        fp_shard *s = &self->shards[j];
        pthread_mutex_lock(&s->lock);
        v[0] += s->n;
        v[1] += s->peak;
        v[2] += s->newEntries;
        v[3] += s->recycledOld;
        v[4] += s->recycledFull;
        v[5] += s->notRecorded;
        v[6] += s->existing;
        pthread_mutex_unlock(&s->lock);
    }
    return Py_BuildValue("(KKKKKKK)", v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
}

static PyObject *
fp_shardOf(FastPath *self, PyObject *args)
{
    const char *address;
    if (!PyArg_ParseTuple(args, "s", &address))
        return NULL;
    fp_key k;
    if (text_key(args, &k, address) < 0)
        return NULL;
    return PyLong_FromLong(shard_of(self->nshards, &k));
}

static PyObject *
fp_running(FastPath *self, void *closure)
{
    return PyBool_FromLong(self->running);
}

static PyObject *
fp_threads(FastPath *self, void *closure)
{
    return PyLong_FromLong(self->nthreads);
}

static PyMethodDef fp_methods[] = {
    {"setSystem", (PyCFunction)fp_setSystem, METH_VARARGS,
     "setSystem(leap, stratum, precision, rootDelayRaw, rootDispersion, lastUpdateNs, refid, reftime)"},
    {"setRestrict", (PyCFunction)fp_setRestrict, METH_O,
     "setRestrict([(family, network, mask, ntpport, flags), ...]) in match order"},
    {"setAssociations", (PyCFunction)fp_setAssociations, METH_O,
     "setAssociations([(address, port), ...])"},
    {"handle", (PyCFunction)fp_handle, METH_VARARGS,
     "handle(data, host, port, destination, localAddress, ifindex, rxNs, txNs)"},
    {"start", (PyCFunction)fp_start, METH_O,
     "start([(fd, group, wildcard, family, thread), ...])"},
    {"stop", (PyCFunction)fp_stop, METH_NOARGS, "stop the threads and wait for them"},
    {"drainPunted", (PyCFunction)fp_drainPunted, METH_NOARGS, "the datagrams for Python"},
    {"puntFileno", (PyCFunction)fp_puntFileno, METH_NOARGS, "the eventfd that says punted"},
    {"takeCounters", (PyCFunction)fp_takeCounters, METH_NOARGS, "counter increases"},
    {"mruObserve", (PyCFunction)fp_mruObserve, METH_VARARGS, "MRUList.observe"},
    {"mruGet", (PyCFunction)fp_mruGet, METH_VARARGS, "MRUList.get"},
    {"mruUpdate", (PyCFunction)fp_mruUpdate, METH_VARARGS, "set dropped and lastKiss"},
    {"mruRemove", (PyCFunction)fp_mruRemove, METH_VARARGS, "MRUList.remove"},
    {"mruClear", (PyCFunction)fp_mruClear, METH_NOARGS, "MRUList.clear"},
    {"mruEntries", (PyCFunction)fp_mruEntries, METH_NOARGS, "entries per shard"},
    {"mruStats", (PyCFunction)fp_mruStats, METH_NOARGS, "MRU statistics"},
    {"shardOf", (PyCFunction)fp_shardOf, METH_VARARGS, "the shard of an address"},
    {NULL}};

static PyGetSetDef fp_getset[] = {
    {"running", (getter)fp_running, NULL, "whether the threads run", NULL},
    {"threads", (getter)fp_threads, NULL, "the number of threads (and MRU shards)", NULL},
    {NULL}};

static PyTypeObject FastPathType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_ntpservice_fastpath.FastPath",
    .tp_basicsize = sizeof(FastPath),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The compiled server fast path.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)fp_init,
    .tp_dealloc = (destructor)fp_dealloc,
    .tp_methods = fp_methods,
    .tp_getset = fp_getset,
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_ntpservice_fastpath",
                                       "The compiled server fast path of ntpservice.", -1,
                                       NULL};

PyMODINIT_FUNC
PyInit__ntpservice_fastpath(void)
{
    if (PyType_Ready(&FastPathType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m)
        return NULL;
    Py_INCREF(&FastPathType);
    PyModule_AddObject(m, "FastPath", (PyObject *)&FastPathType);
    PyModule_AddIntConstant(m, "ABI", FP_ABI);
    int nflags = 0;
    while (FLAG_NAMES[nflags])
        nflags++;
    PyObject *names = PyTuple_New(nflags);
    for (int i = 0; i < nflags; i++)
        PyTuple_SET_ITEM(names, i, PyUnicode_FromString(FLAG_NAMES[i]));
    PyModule_AddObject(m, "FLAG_NAMES", names);
    return m;
}
