/* commands.h: the smbrl subcommands. Each lives in its own cli/cmd_*.c file and
 * is listed once in main.c's table. Only src/cli prints or exits. */
#ifndef SMBRL_CLI_COMMANDS_H
#define SMBRL_CLI_COMMANDS_H

/* argv[0] is the subcommand name. Return the process exit code:
 * 0 ok, 1 runtime failure, 2 bad usage (unknown flag, bad value). */
typedef int (*command_fn)(int argc, char **argv);

struct command {
    const char *name;
    command_fn run;
    const char *summary;
};

int cmd_rom(int argc, char **argv);
int cmd_movie(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_play(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* smbrl bench subcommands, listed in cmd_bench.c. */
int bench_emu(int argc, char **argv);
int bench_env(int argc, char **argv);
int bench_learn(int argc, char **argv);

#endif
