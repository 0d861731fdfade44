/* cmd_bench.c: `smbrl bench WHAT`; every benchmark prints a readable table, or
 * one JSON object of named figures with --json. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct command benches[] = {
    {"emu", bench_emu, "emulator frames per second, rendered and skipped"},
    {"env", bench_env, "environment agent steps per second (frame skip 4, 84x84 stack), 1 and N threads"},
    {"learn", bench_learn, "Double-DQN update and greedy-action latency (MarioNet)"},
};

static void bench_usage(FILE *out)
{
    fprintf(out, "usage: smbrl bench WHAT [FLAGS] [--json]\n\nbenchmarks:\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(out, "  %-8s %s\n", benches[i].name, benches[i].summary);
    fprintf(out, "\nRun 'smbrl bench WHAT --help' for its flags.\n");
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        bench_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        bench_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (!strcmp(argv[1], benches[i].name))
            return benches[i].run(argc - 1, argv + 1);
    fprintf(stderr, "smbrl bench: unknown benchmark '%s' (see smbrl bench --help)\n", argv[1]);
    return 2;
}
