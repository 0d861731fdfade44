/* test_dist.c: the MPI layer (dist.h) driven with synthetic parameter deltas on every rank:
 * broadcast of the start, rounds that must equal G + mean (or sum) of all ranks' deltas, the
 * counters summed, the stop vote seen by every rank in the same round, replica checksums that
 * agree, and an injected divergence that is named and repaired.
 * Runs as one process (CTest test_dist) or under mpirun (tests/dist.cmake: dist_mpi_np2 and
 * dist_netns, which run it with -n 2 on one machine and across two network namespaces).
 * Prints per-round timing and bytes. Skips where the build has no MPI. */
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

#include "smbrl/dist.h"

#define N 4099 /* odd, so nothing lines up with a vector width by luck */

static float delta_of(int rank, int round, size_t i)
{
    /* multiples of 1/8, small: sums and the halving for 2 ranks stay exact in float */
    return 0.125f * (float)((int)((i + (size_t)round) % 5) - 2) * (float)(rank + 1);
}

static void rounds(dist *d, int sum_mode)
{
    int rank = dist_rank(d), size = dist_size(d);
    float *start = malloc(N * sizeof(float)), *local = malloc(N * sizeof(float));
    float *expect = malloc(N * sizeof(float));
    char err[256];
    for (size_t i = 0; i < N; i++) /* only rank 0's values may survive the broadcast */
        start[i] = rank == 0 ? (float)i * 0.5f : -1000.0f - (float)rank;
    CHECK(dist_bcast(d, start, N * sizeof(float), err, sizeof err) == 0);
    for (size_t i = 0; i < N; i++)
        CHECK(start[i] == (float)i * 0.5f);
    dist_set_global(d, start);
    const int R = 6, stop_round = 4;
    int64_t seen_steps = 0;
    for (int r = 0; r < R; r++) {
        const float *g = dist_global(d);
        for (size_t i = 0; i < N; i++) {
            local[i] = g[i] + delta_of(rank, r, i);
            double all = 0;
            for (int k = 0; k < size; k++)
                all += delta_of(k, r, i);
            expect[i] = (float)((double)g[i] + (sum_mode ? all : all / size));
        }
        dist_round rd;
        memset(&rd, 0, sizeof rd);
        rd.local[DIST_STEPS] = 10 * (rank + 1);
        rd.local[DIST_EPISODES] = rank + 1;
        rd.local[DIST_FLAGS] = rank == 0;
        rd.local[DIST_UPDATES] = 3 + rank;
        rd.want_stop = (r == stop_round && rank == size - 1);
        rd.final = r == R - 1;
        CHECK(dist_sync(d, local, &rd, err, sizeof err) == 0);
        g = dist_global(d);
        int bad = 0;
        for (size_t i = 0; i < N; i++)
            if (fabsf(g[i] - expect[i]) > 1e-5f * (1.0f + fabsf(expect[i])))
                bad++;
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(rd.global[DIST_STEPS], 10 * size * (size + 1) / 2);
        CHECK_EQ_INT(rd.global[DIST_EPISODES], size * (size + 1) / 2);
        CHECK_EQ_INT(rd.global[DIST_FLAGS], 1);
        CHECK_EQ_INT(rd.global[DIST_UPDATES], 3 * size + size * (size - 1) / 2);
        CHECK_EQ_INT(rd.stop, r == stop_round);
        CHECK_EQ_INT(rd.stop_votes, r == stop_round);
        CHECK(rd.bytes >= N * sizeof(float));
        seen_steps += rd.global[DIST_STEPS];
        if (rd.final) {
            CHECK(rd.checked);
            CHECK_EQ_INT(rd.diverged_rank, -1);
            CHECK(rd.checksum == dist_checksum(g, N));
            int64_t mine = (int64_t)rd.checksum, all[64];
            CHECK(size <= 64);
            CHECK(dist_allgather_i64(d, &mine, 1, all, err, sizeof err) == 0);
            for (int k = 0; k < size && k < 64; k++)
                CHECK(all[k] == all[0]);
        }
        if (rank == 0 && !sum_mode)
            printf("round %d: %.4f s (%.4f s in MPI), %zu bytes from each rank%s\n", r,
                   rd.seconds, rd.comm_seconds, rd.bytes, rd.checked ? ", replicas checked" : "");
    }
    CHECK_EQ_INT(seen_steps, (int64_t)R * 10 * size * (size + 1) / 2);
    free(start);
    free(local);
    free(expect);
}

/* One rank's G is corrupted behind the others' backs: the next check names it and repairs it. */
static void divergence(dist *d)
{
    int rank = dist_rank(d), size = dist_size(d);
    char err[256];
    float *g = malloc(N * sizeof(float));
    memcpy(g, dist_global(d), N * sizeof(float));
    if (rank == size - 1 && size > 1) {
        g[N / 2] += 1.0f;
        dist_set_global(d, g);
    }
    dist_round rd;
    memset(&rd, 0, sizeof rd);
    rd.final = 1;
    CHECK(dist_sync(d, dist_global(d), &rd, err, sizeof err) == 0);
    CHECK(rd.checked);
    CHECK_EQ_INT(rd.diverged_rank, size > 1 ? size - 1 : -1);
    CHECK_EQ_INT(rd.diverged_count, size > 1);
    uint64_t mine = dist_checksum(dist_global(d), N);
    int64_t all[64], m = (int64_t)mine;
    CHECK(dist_allgather_i64(d, &m, 1, all, err, sizeof err) == 0);
    for (int k = 0; k < size && k < 64; k++)
        CHECK(all[k] == all[0]);
    /* a clean check afterwards */
    memset(&rd, 0, sizeof rd);
    rd.final = 1;
    CHECK(dist_sync(d, dist_global(d), &rd, err, sizeof err) == 0);
    CHECK_EQ_INT(rd.diverged_rank, -1);
    free(g);
}

int main(void)
{
    char err[256];
    if (dist_init(err, sizeof err) < 0)
        TEST_SKIP("%s", err);
    CHECK(dist_active());
    dist_config bad = {.num_params = 0};
    dist *d = NULL;
    CHECK(dist_create(&d, &bad, err, sizeof err) < 0 && err[0] && !d);

    dist_config c = {.num_params = N, .sum = 0, .check_every = 4};
    CHECK(dist_create(&d, &c, err, sizeof err) == 0);
    if (!d)
        return testlib_finish("test_dist");
    int rank = dist_rank(d), size = dist_size(d);
    if (rank == 0)
        printf("test_dist: %d rank(s) on %s%s%s\n", size, dist_host(d, 0), size > 1 ? " and " : "",
               size > 1 ? dist_host(d, 1) : "");
    rounds(d, 0);
    CHECK_EQ_INT(dist_rounds(d), 6);
    divergence(d);
    char dead[256];
    CHECK_EQ_INT(dist_dead_ranks(d, dead, sizeof dead), 0);
    dist_free(d);

    c.sum = 1;
    c.check_every = 0;
    CHECK(dist_create(&d, &c, err, sizeof err) == 0);
    if (d) {
        rounds(d, 1);
        dist_free(d);
    }
    /* any rank's failure fails every rank */
    int mine = testlib_failures, worst = 0;
    MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst && !testlib_failures)
        fprintf(stderr, "rank %d: another rank failed\n", rank), testlib_failures = worst;
    CHECK(dist_finalize(err, sizeof err) == 0);
    return testlib_finish(rank == 0 ? "test_dist" : "test_dist (rank > 0)");
}
#endif
