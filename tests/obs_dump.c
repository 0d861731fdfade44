/* obs_dump.c: writes frames for tests/obs_torch_compare.py: N agent steps of
 * random play (SuperMarioBros-1-1-v0, frame skip 4, seed 1), each step's last
 * frame as 256x240 palette indices to FRAMES and our 84x84 observation of it to
 * OURS. Usage: obs_dump ROM_DIR N FRAMES OURS [area|antialias] */
#include <stdio.h>
#include <stdlib.h>

#include "smbrl/env.h"
#include "smbrl/rng.h"

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: obs_dump ROM_DIR N FRAMES OURS [area|antialias]\n");
        return 2;
    }
    env_config c;
    env_config_default(&c);
    c.seed = 1;
    if (argc == 6)
        c.resize = argv[5];
    char err[256];
    env *e;
    if (env_create(&e, &c, argv[1], err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int n = atoi(argv[2]);
    FILE *ff = fopen(argv[3], "wb"), *fo = fopen(argv[4], "wb");
    if (!ff || !fo) {
        fprintf(stderr, "cannot write the outputs\n");
        return 1;
    }
    static uint8_t obs[ENV_OBS_SIZE];
    rng r;
    rng_seed(&r, 1);
    env_reset(e, obs, NULL);
    for (int i = 0; i < n; i++) {
        float rw;
        int d;
        env_info in;
        env_step(e, (int)rng_below(&r, 7), obs, &rw, &d, &in, err, sizeof err);
        fwrite(env_frame(e), 1, NES_WIDTH * NES_HEIGHT, ff);
        fwrite(obs + 3 * ENV_FRAME_SIZE, 1, ENV_FRAME_SIZE, fo);
        if (d)
            env_reset(e, obs, NULL);
    }
    fclose(ff);
    fclose(fo);
    env_free(e);
    return 0;
}
