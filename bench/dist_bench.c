/* dist_bench.c: times the two ways of keeping one model over MPI ranks on a MarioNet-sized
 * buffer, to choose between them (bench/RESULTS.md "## Distributed"):
 *   allreduce: one MPI_Allreduce of the parameter deltas per round (what dist.h does), and a
 *              whole dist_sync round (delta, counters, apply; replica check every 10 rounds);
 *   server:    a parameter server on rank 0: MPI_Accumulate(SUM) of the deltas into a window
 *              and MPI_Get of the parameters, each under a passive-target shared lock.
 * Usage: mpirun -n 2 dist_bench [--floats N] [--rounds R] [--json] [--only-sync]
 * Prints per-round seconds (mean over rounds, slowest rank) and bytes each rank sends. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smbrl/dist.h"
#include "smbrl/nn.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int never(void *user)
{
    (void)user;
    return 0;
}

static double slowest(double t)
{
    double m = t;
    MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

int main(int argc, char **argv)
{
    char err[256];
    size_t n = 0;
    int rounds = 20, json = 0, only_sync = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--floats") && i + 1 < argc)
            n = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--only-sync")) /* for counting bytes on the wire */
            only_sync = 1;
    }
    if (!n) { /* MarioNet on the tutorial's two actions */
        nn_spec spec;
        nn_model m;
        nn_spec_marionet(&spec, 4, 84, 84, 2, 0);
        if (nn_model_init(&m, &spec, err, sizeof err) < 0) {
            fprintf(stderr, "dist_bench: %s\n", err);
            return 1;
        }
        n = m.num_params;
        nn_model_free(&m);
    }
    if (dist_init(err, sizeof err) < 0) {
        fprintf(stderr, "dist_bench: %s\n", err);
        return 1;
    }
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float *p = malloc(n * sizeof(float)), *d = malloc(n * sizeof(float));
    if (!p || !d)
        return 1;
    for (size_t i = 0; i < n; i++) {
        p[i] = 0.001f * (float)(i % 1000);
        d[i] = 1e-6f * (float)((i + (size_t)rank) % 7);
    }

    /* (b) raw allreduce of the deltas */
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = mono();
    for (int r = 0; r < rounds && !only_sync; r++)
        MPI_Allreduce(MPI_IN_PLACE, d, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double t_allreduce = slowest(mono() - t0) / rounds;

    /* (b) whole dist_sync rounds: blocking collectives, then polled ones (as in training) */
    double t_sync = 0, t_sync_comm = 0, t_poll = 0, t_poll_comm = 0;
    size_t bytes = 0;
    for (int polled = 0; polled < 2 - only_sync; polled++) {
        dist *ds = NULL;
        dist_config dc = {.num_params = n, .sum = 0, .check_every = 10,
                          .interrupt = polled ? never : NULL};
        if (dist_create(&ds, &dc, err, sizeof err) < 0) {
            fprintf(stderr, "dist_bench: %s\n", err);
            return 1;
        }
        dist_set_global(ds, p);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = mono();
        double comm = 0;
        for (int r = 0; r < rounds; r++) {
            for (size_t i = 0; i < n; i += 97)
                p[i] += 1e-4f;
            dist_round rd;
            memset(&rd, 0, sizeof rd);
            rd.local[DIST_STEPS] = 100;
            if (dist_sync(ds, p, &rd, err, sizeof err) < 0) {
                fprintf(stderr, "dist_bench: %s\n", err);
                return 1;
            }
            memcpy(p, dist_global(ds), n * sizeof(float));
            comm += rd.comm_seconds;
            bytes = rd.bytes;
        }
        double ts = slowest(mono() - t0) / rounds, tc = slowest(comm) / rounds;
        if (polled) {
            t_poll = ts;
            t_poll_comm = tc;
        } else {
            t_sync = ts;
            t_sync_comm = tc;
        }
        dist_free(ds);
    }

    /* (a) parameter server on rank 0: accumulate deltas, get parameters */
    float *base = NULL;
    MPI_Win win;
    MPI_Aint wbytes = rank == 0 ? (MPI_Aint)(n * sizeof(float)) : 0;
    int rc = only_sync ? MPI_ERR_OTHER : MPI_Win_allocate(wbytes, sizeof(float), MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
    double t_server = -1, t_push = -1, t_pull = -1;
    if (rc == MPI_SUCCESS) {
        if (rank == 0)
            memcpy(base, p, n * sizeof(float));
        MPI_Barrier(MPI_COMM_WORLD);
        double push = 0, pull = 0;
        t0 = mono();
        for (int r = 0; r < rounds && rc == MPI_SUCCESS; r++) {
            double a = mono();
            rc = MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
            if (rc == MPI_SUCCESS)
                rc = MPI_Accumulate(d, (int)n, MPI_FLOAT, 0, 0, (int)n, MPI_FLOAT, MPI_SUM, win);
            if (rc == MPI_SUCCESS)
                rc = MPI_Win_unlock(0, win);
            double b = mono();
            if (rc == MPI_SUCCESS)
                rc = MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
            if (rc == MPI_SUCCESS)
                rc = MPI_Get(p, (int)n, MPI_FLOAT, 0, 0, (int)n, MPI_FLOAT, win);
            if (rc == MPI_SUCCESS)
                rc = MPI_Win_unlock(0, win);
            push += b - a;
            pull += mono() - b;
        }
        MPI_Barrier(MPI_COMM_WORLD);
        t_server = slowest(mono() - t0) / rounds;
        t_push = slowest(push) / rounds;
        t_pull = slowest(pull) / rounds;
        MPI_Win_free(&win);
    }
    if (rc != MPI_SUCCESS && rank == 0 && !only_sync) {
        char s[MPI_MAX_ERROR_STRING];
        int l;
        MPI_Error_string(rc, s, &l);
        fprintf(stderr, "dist_bench: parameter server failed: %s\n", s);
    }
    if (rank == 0) {
        double mb = (double)n * 4 / 1e6;
        if (json) {
            printf("{\"ranks\":%d,\"floats\":%zu,\"rounds\":%d,\"allreduce_s\":%.6f,"
                   "\"dist_sync_s\":%.6f,\"dist_sync_comm_s\":%.6f,\"dist_sync_bytes\":%zu,"
                   "\"dist_sync_polled_s\":%.6f,\"dist_sync_polled_comm_s\":%.6f,"
                   "\"server_s\":%.6f,\"server_push_s\":%.6f,\"server_pull_s\":%.6f}\n",
                   size, n, rounds, t_allreduce, t_sync, t_sync_comm, bytes, t_poll, t_poll_comm, t_server,
                   t_push, t_pull);
        } else {
            printf("%d ranks, %zu floats (%.2f MB), %d rounds; seconds per round, slowest rank\n",
                   size, n, mb, rounds);
            printf("  allreduce of deltas          %9.4f\n", t_allreduce);
            printf("  dist_sync round              %9.4f  (in MPI %.4f; %zu bytes in per rank)\n",
                   t_sync, t_sync_comm, bytes);
            printf("  dist_sync round, polled      %9.4f  (in MPI %.4f)\n", t_poll, t_poll_comm);
            printf("  server: accumulate + get     %9.4f  (push %.4f, pull %.4f)\n", t_server,
                   t_push, t_pull);
        }
    }
    free(p);
    free(d);
    dist_finalize(err, sizeof err);
    return 0;
}
