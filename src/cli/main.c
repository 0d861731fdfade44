/* main.c: the smbrl command-line entry; dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct command commands[] = {
    {"rom", cmd_rom, "inspect ROM files: which game and mode, mapper, sizes, SHA-1"},
    {"movie", cmd_movie, "play an input file or FCEUX fm2 movie from power-on; write a trace"},
    {"train", cmd_train, "train the Double-DQN agent with parallel workers and a shared model"},
    {"play", cmd_play, "play a task by hand (SDL2 window) or with random actions"},
    {"eval", cmd_eval, "play a trained checkpoint: table, JSON, GIF/PNG recording, live window"},
    {"plot", cmd_plot, "draw a run's learning curves (metrics.jsonl) into a PNG"},
    {"bench", cmd_bench, "measure speed (emu, ...); --json for scripts"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: smbrl COMMAND [FLAGS]\n\n"
                 "A fast Super Mario Bros reinforcement-learning trainer.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'smbrl COMMAND --help' for the flags of each command.\n"
                 "ROMs: pass --rom PATH or set SMBRL_ROM; smbrl never ships a ROM.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "smbrl: unknown command '%s' (see smbrl --help)\n", argv[1]);
    return 2;
}
