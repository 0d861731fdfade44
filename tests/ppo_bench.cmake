# ppo_bench.cmake: builds bench/bench_ppo (PPO learner timings) and runs a small instance of
# it as a smoke test; the full run is by hand (bench/RESULTS.md, section PPO).
add_executable(bench_ppo ${CMAKE_SOURCE_DIR}/bench/bench_ppo.c)
target_link_libraries(bench_ppo PRIVATE smbrl_core)
add_test(NAME bench_ppo_smoke COMMAND bench_ppo --steps 8 --envs 2 --epochs 1 --minibatches 2 --iters 2)
set_tests_properties(bench_ppo_smoke PROPERTIES LABELS unit)
