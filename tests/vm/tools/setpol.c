/* setpol: set this process's NUMA memory policy, then exec a command.
 * The VM checks use it for baselines that do not involve numakit (busybox
 * has no numactl), e.g. to prove the rig can observe pages on a CPU-less node.
 *
 * Build (static): gcc -O2 -static -o setpol setpol.c
 * Usage: setpol MODE NODES COMMAND [ARG...]
 *   MODE   default | preferred | bind | interleave | local
 *   NODES  comma-separated node ids and ranges (0,2 or 0-1); "-" for none
 * Exit status: COMMAND's (exec), or 2 usage, 3 set_mempolicy failed,
 * 127 exec failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXNODE 1024
#define WORDS (MAXNODE / (8 * sizeof(unsigned long)))
#define BITS (8 * sizeof(unsigned long))

static const char *const modes[] = { "default", "preferred", "bind", "interleave", "local" };

static int parse_nodes(const char *s, unsigned long *mask)
{
    if (!strcmp(s, "-"))
        return 0;
    while (*s) {
        char *e;
        unsigned long a = strtoul(s, &e, 10), b = a;
        if (e == s)
            return -1;
        if (*e == '-') {
            s = e + 1;
            b = strtoul(s, &e, 10);
            if (e == s)
                return -1;
        }
        if (a > b || b >= MAXNODE)
            return -1;
        for (unsigned long n = a; n <= b; n++)
            mask[n / BITS] |= 1UL << (n % BITS);
        if (*e == ',')
            e++;
        else if (*e)
            return -1;
        s = e;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long mask[WORDS] = { 0 };
    int mode = -1;
    if (argc < 4) {
        fputs("usage: setpol default|preferred|bind|interleave|local NODES COMMAND [ARG...]\n", stderr);
        return 2;
    }
    for (int i = 0; i < (int)(sizeof(modes) / sizeof(modes[0])); i++)
        if (!strcmp(argv[1], modes[i]))
            mode = i;   /* MPOL_DEFAULT 0, PREFERRED 1, BIND 2, INTERLEAVE 3, LOCAL 4 */
    if (mode < 0 || parse_nodes(argv[2], mask) != 0) {
        fprintf(stderr, "setpol: bad mode or node list: %s %s\n", argv[1], argv[2]);
        return 2;
    }
    int empty = mode == 0 || mode == 4;
    if (syscall(SYS_set_mempolicy, mode, empty ? NULL : mask, empty ? 0UL : (unsigned long)MAXNODE + 1) != 0) {
        fprintf(stderr, "setpol: set_mempolicy(%s, %s): %s\n", argv[1], argv[2], strerror(errno));
        return 3;
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "setpol: exec %s: %s\n", argv[3], strerror(errno));
    return 127;
}
