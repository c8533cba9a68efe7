/* memhog: allocate a buffer, touch every page, report where it is, and
 * optionally hold it until told to go. The workload of the VM placement checks.
 *
 * Build (static, the guest has no libc):
 *     gcc -O2 -static -pthread -o memhog memhog.c
 *
 * Usage: memhog [options] MIB
 *   -t, --threads T    touch from T threads, each writing its own contiguous
 *                      slice (default 1: the main thread touches everything)
 *       --pin          pin thread i to the i-th CPU of the allowed CPU set
 *       --no-thp       madvise(MADV_NOHUGEPAGE) before touching
 *       --hugetlb      take the buffer from the 2 MiB hugetlb pool
 *                      (MAP_HUGETLB | MAP_HUGE_2MB; MIB must be even)
 *       --hold         after touching, stay alive until SIGTERM or SIGINT
 *       --ready FILE   once touched, write the info line to FILE (atomically:
 *                      written to FILE.tmp then renamed), for a waiting test
 *       --report       print the buffer's /proc/self/numa_maps lines, each
 *                      prefixed "numa_maps: ", before holding or exiting
 *   -h, --help
 *
 * Always prints one info line on stdout once the buffer is touched:
 *     memhog: pid=PID start=HEX end=HEX bytes=N pagesize=N threads=T
 * START and END (exclusive) are in the format of /proc/PID/numa_maps and
 * /proc/PID/maps (lower-case hex, no 0x). The buffer has a PROT_NONE guard
 * page on each side, so its VMA never merges with a neighbour: the numa_maps
 * line that starts at START covers exactly the buffer.
 * Exit status: 0 ok, 1 allocation or thread failure, 2 usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct slice {
    char *p;
    size_t len;
    int cpu;          /* -1: do not pin */
    int err;
};

static long pagesz;
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static void usage(FILE *f)
{
    fputs("usage: memhog [-t THREADS] [--pin] [--no-thp] [--hugetlb] [--hold] [--ready FILE] [--report] MIB\n", f);
}

static void *touch(void *arg)
{
    struct slice *s = arg;
    if (s->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(s->cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            s->err = errno;
            return NULL;
        }
    }
    /* one write per page is enough to fault it in; write a non-zero value
     * so that nothing can keep the zero page mapped */
    for (size_t off = 0; off < s->len; off += (size_t)pagesz)
        s->p[off] = (char)(off / (size_t)pagesz) | 1;
    return NULL;
}

/* print the numa_maps lines whose start address lies in [start, end) */
static void report(unsigned long start, unsigned long end)
{
    FILE *f = fopen("/proc/self/numa_maps", "r");
    char line[4096];
    if (!f) {
        printf("numa_maps: unavailable: %s\n", strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long a = strtoul(line, NULL, 16);
        if (a >= start && a < end)
            printf("numa_maps: %s", line);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    int threads = 1, pin = 0, nothp = 0, hold = 0, rep = 0, hugetlb = 0;
    const char *ready = NULL;
    char *mibarg = NULL;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (++i >= argc) { usage(stderr); return 2; }
            threads = atoi(argv[i]);
        } else if (!strncmp(a, "--threads=", 10)) {
            threads = atoi(a + 10);
        } else if (!strcmp(a, "--pin")) {
            pin = 1;
        } else if (!strcmp(a, "--no-thp")) {
            nothp = 1;
        } else if (!strcmp(a, "--hugetlb")) {
            hugetlb = 1;
        } else if (!strcmp(a, "--hold")) {
            hold = 1;
        } else if (!strcmp(a, "--report")) {
            rep = 1;
        } else if (!strcmp(a, "--ready")) {
            if (++i >= argc) { usage(stderr); return 2; }
            ready = argv[i];
        } else if (!strncmp(a, "--ready=", 8)) {
            ready = a + 8;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' || mibarg) {
            usage(stderr);
            return 2;
        } else {
            mibarg = argv[i];
        }
    }
    char *endp;
    unsigned long mib = mibarg ? strtoul(mibarg, &endp, 10) : 0;
    if (!mibarg || *endp || mib == 0 || threads < 1 || threads > 1024) {
        usage(stderr);
        return 2;
    }

    /* signal handlers first: a test may send SIGTERM as soon as it sees the
     * ready marker */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    pagesz = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)mib << 20;
    size_t total = len + 2 * (size_t)pagesz;
    char *buf;
    if (hugetlb) {
        /* a hugetlb VMA never merges with its neighbours: no guard pages */
        buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << 26), -1, 0);
        if (buf == MAP_FAILED) {
            fprintf(stderr, "memhog: mmap %zu bytes of 2 MiB pages: %s\n", len, strerror(errno));
            return 1;
        }
    } else {
    char *base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        fprintf(stderr, "memhog: mmap %zu bytes: %s\n", total, strerror(errno));
        return 1;
    }
    buf = base + pagesz;
    }
    if (!hugetlb && mprotect(buf, len, PROT_READ | PROT_WRITE) != 0) {
        fprintf(stderr, "memhog: mprotect: %s\n", strerror(errno));
        return 1;
    }
    if (nothp)
        madvise(buf, len, MADV_NOHUGEPAGE);

    /* CPUs for --pin: the allowed set, in order */
    int cpus[CPU_SETSIZE], ncpu = 0;
    if (pin) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) != 0) {
            fprintf(stderr, "memhog: sched_getaffinity: %s\n", strerror(errno));
            return 1;
        }
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                cpus[ncpu++] = c;
    }

    struct slice *s = calloc((size_t)threads, sizeof(*s));
    pthread_t *tid = calloc((size_t)threads, sizeof(*tid));
    size_t npages = len / (size_t)pagesz, per = npages / (size_t)threads;
    for (int i = 0; i < threads; i++) {
        size_t first = per * (size_t)i;
        size_t count = i == threads - 1 ? npages - first : per;
        s[i].p = buf + first * (size_t)pagesz;
        s[i].len = count * (size_t)pagesz;
        s[i].cpu = pin ? cpus[i % ncpu] : -1;
    }
    if (threads == 1) {
        touch(&s[0]);
    } else {
        for (int i = 0; i < threads; i++) {
            int e = pthread_create(&tid[i], NULL, touch, &s[i]);
            if (e) {
                fprintf(stderr, "memhog: pthread_create: %s\n", strerror(e));
                return 1;
            }
        }
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
    }
    for (int i = 0; i < threads; i++)
        if (s[i].err) {
            fprintf(stderr, "memhog: thread %d: pin to CPU %d: %s\n", i, s[i].cpu, strerror(s[i].err));
            return 1;
        }

    unsigned long start = (unsigned long)buf, end = start + len;
    char info[256];
    snprintf(info, sizeof(info), "memhog: pid=%d start=%lx end=%lx bytes=%zu pagesize=%ld threads=%d\n",
             (int)getpid(), start, end, len, pagesz, threads);
    fputs(info, stdout);
    if (rep)
        report(start, end);
    if (ready) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
        FILE *f = fopen(tmp, "w");
        if (!f || fputs(info, f) < 0 || fclose(f) != 0 || rename(tmp, ready) != 0) {
            fprintf(stderr, "memhog: cannot write %s: %s\n", ready, strerror(errno));
            return 1;
        }
    }
    if (hold) {
        /* block the signals so none slips in between the test of `stop`
         * and sigsuspend(), which unblocks them atomically */
        sigset_t blk, none;
        sigemptyset(&blk);
        sigaddset(&blk, SIGTERM);
        sigaddset(&blk, SIGINT);
        sigprocmask(SIG_BLOCK, &blk, NULL);
        sigemptyset(&none);
        while (!stop)
            sigsuspend(&none);
        printf("memhog: released\n");
    }
    return 0;
}
