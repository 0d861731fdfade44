/* test_dist_train.c: the trainer's distributed rounds (src/dist/train_dist.c) on real shared
 * models (train_shared), with this program standing in for the supervisor and its workers:
 * each rank adds a known amount to every parameter per step, counts steps, pushes and
 * episodes against a global episode budget, and polls for rounds as the supervisor does.
 * Checks: rank 0's run directory and resumed model reach every rank, each rank gets its own
 * seed and exploration streams, the global model is the start plus the mean of every rank's
 * contribution, the counters add up, the budget stops every rank, replicas agree, and rank 0's
 * log names every rank's contribution.
 * With --kill, rank 1 kills itself mid-run and rank 0 must end with a message naming it
 * (tests/dist_kill.sh checks the output). Run under mpirun (tests/dist.cmake) or alone. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "testlib.h"

#ifndef SMBRL_HAVE_MPI
int main(void)
{
    TEST_SKIP("this build has no MPI (Debian: libopenmpi-dev openmpi-bin)");
}
#else
#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include "dist/train_dist.h"
#include "smbrl/dist.h"

#define N 777

typedef struct logbuf {
    char text[8192];
} logbuf;

static void on_log(void *user, const char *line)
{
    logbuf *b = user;
    size_t n = strlen(b->text);
    snprintf(b->text + n, sizeof b->text - n, "%s\n", line);
    printf("%s\n", line);
}

int main(int argc, char **argv)
{
    int kill_mode = argc > 1 && !strcmp(argv[1], "--kill");
    char err[600] = "";
    /* as train_run does before its loop: the signals are the supervisor's to take */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);

    train_args a;
    train_args_default(&a);
    a.num_processes = 2;
    a.sync_every = 40;
    a.episodes = 60;
    uint64_t seed0 = a.seed;
    logbuf logs;
    memset(&logs, 0, sizeof logs);
    /* the rank is unknown before MPI starts: every rank writes its own guess; rank 0's wins */
    snprintf(a.run_dir, sizeof a.run_dir, "run-of-pid-%ld", (long)getpid());
    char mine_dir[sizeof a.run_dir];
    snprintf(mine_dir, sizeof mine_dir, "%s", a.run_dir);
    train_dist *t = NULL;
    if (train_dist_open(&t, &a, 3, on_log, &logs, err, sizeof err) < 0)
        TEST_SKIP("%s", err);
    int rank = train_dist_rank(t), size = train_dist_size(t);
    char dir0[sizeof a.run_dir];
    memcpy(dir0, a.run_dir, sizeof dir0);
    MPI_Bcast(dir0, (int)sizeof dir0, MPI_CHAR, 0, MPI_COMM_WORLD);
    CHECK(!strcmp(a.run_dir, dir0));
    CHECK((strcmp(a.run_dir, mine_dir) == 0) == (rank == 0));
    CHECK((a.seed != seed0) == (rank != 0));

    train_shared *sh = NULL;
    CHECK(train_shared_create(&sh, N, err, sizeof err) == 0);
    if (!sh)
        return testlib_finish("test_dist_train");
    for (size_t i = 0; i < N; i++) { /* rank 0 "resumed" a run; the others hold junk */
        sh->params[i] = rank == 0 ? 0.25f * (float)i : -7.0f;
        sh->m[i] = rank == 0 ? 1.0f : 0.0f;
    }
    if (rank == 0) {
        sh->steps = 1000;
        sh->episodes = 7;
        sh->flags = 1;
        sh->adam_step = 5;
        sh->slot[0].has_state = 1;
        for (int k = 0; k < 4; k++)
            sh->slot[0].rng[k] = (uint64_t)k + 1;
    }
    CHECK(train_dist_start(t, sh, err, sizeof err) == 0);
    CHECK_EQ_INT(sh->steps, 1000);
    CHECK_EQ_INT(sh->episodes, 7);
    CHECK_EQ_INT(sh->adam_step, 5);
    CHECK(sh->params[N - 1] == 0.25f * (float)(N - 1) && sh->m[3] == 1.0f);
    CHECK(sh->slot[0].has_state == 1);
    CHECK((sh->slot[0].rng[0] == 1 && sh->slot[0].rng[3] == 4) == (rank == 0));

    const float c = (float)(rank + 1) / 64.0f; /* what this rank learns per step, exactly */
    int64_t own = 0, own_eps = 0, own_pushes = 0;
    int stopping = 0, stop = 0;
    while (!stop) {
        if (!stopping) { /* one "worker" step */
            train_lock(sh);
            for (size_t i = 0; i < N; i++)
                sh->params[i] += c;
            train_unlock(sh);
            __atomic_add_fetch(&sh->steps, 1, __ATOMIC_RELAXED);
            own++;
            sh->slot[own % 2].pushes++;
            own_pushes++;
            if (own % 10 == 0) {
                train_lock(sh);
                if (sh->episodes < a.episodes) {
                    sh->episodes++;
                    own_eps++;
                } else {
                    stopping = 1; /* as a worker finding the budget used up */
                }
                train_unlock(sh);
            }
            if (rank == 1)
                usleep(300); /* uneven ranks: the faster one waits in rounds */
            if (kill_mode && rank == 1 && own == 100)
                raise(SIGKILL);
        }
        siginfo_t si;
        struct timespec zero = {0, 0};
        int sig = sigtimedwait(&set, &si, &zero);
        if (sig > 0 && train_dist_launcher_signal(t, sig, &si, err, sizeof err)) {
            printf("%s\n", err);
            fflush(stdout);
            return 3;
        }
        if (train_dist_poll(t, stopping, &stop, err, sizeof err) < 0) {
            printf("%s\n", err);
            fflush(stdout);
            return 3;
        }
    }
    CHECK(!kill_mode);
    CHECK(train_dist_finish(t, err, sizeof err) == 0);

    int64_t mine[3] = {own, own_eps, own_pushes}, sum[3];
    MPI_Allreduce(mine, sum, 3, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK_EQ_INT(sh->steps, 1000 + sum[0]);
    CHECK_EQ_INT(sh->episodes, 7 + sum[1]);
    CHECK(sh->episodes >= a.episodes);
    CHECK(sh->episodes <= a.episodes + (size - 1) * (a.sync_every / 10 + 1));
    int64_t total = -1;
    CHECK_EQ_INT(train_dist_updates(t, &total), own_pushes);
    CHECK_EQ_INT(total, sum[2]);
    CHECK(own > 0);
    /* G = start + mean over ranks of (their per-step amount x their steps) */
    double add = 0, mine_add = (double)c * (double)own, all_add = 0;
    MPI_Allreduce(&mine_add, &all_add, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    add = all_add / size;
    int bad = 0;
    for (size_t i = 0; i < N; i++)
        if (fabs((double)sh->params[i] - (0.25 * (double)i + add)) > 1e-3 * (1 + add))
            bad++;
    CHECK_EQ_INT(bad, 0);
    uint64_t h = dist_checksum(sh->params, N), h0 = h;
    MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    CHECK(h == h0);
    if (rank == 0) {
        char want[64];
        for (int k = 0; k < size; k++) {
            snprintf(want, sizeof want, "dist: rank %d (", k);
            CHECK(strstr(logs.text, want) != NULL);
        }
        CHECK(strstr(logs.text, "final replicas agree") != NULL);
        CHECK(strstr(logs.text, "voted to stop") != NULL);
        printf("test_dist_train: %d rank(s), global steps %lld, episodes %lld, own steps %lld\n",
               size, (long long)sh->steps, (long long)sh->episodes, (long long)own);
    }
    int f = testlib_failures, worst = 0;
    MPI_Allreduce(&f, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst && !testlib_failures)
        testlib_failures = worst;
    train_shared_free(sh);
    train_dist_close(t);
    return testlib_finish(rank == 0 ? "test_dist_train" : "test_dist_train (rank > 0)");
}
#endif
