# `smbrl bench learn` end to end: a tiny batch split over 2 threads, one timed update, JSON out;
# and a bad flag is refused.
add_test(NAME bench_learn_smoke COMMAND smbrl bench learn --batch 4 --iters 1 --threads 2 --json)
set_tests_properties(bench_learn_smoke PROPERTIES LABELS unit
                     PASS_REGULAR_EXPRESSION "^{\"update_ms\": [0-9.]+, \"act_ms\": [0-9.]+, \"act8_ms\": [0-9.]+")
add_test(NAME bench_learn_bad_flag COMMAND smbrl bench learn --batch 0)
set_tests_properties(bench_learn_bad_flag PROPERTIES LABELS unit WILL_FAIL TRUE)
