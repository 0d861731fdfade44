# replay_bench.cmake: builds bench/bench_replay (replay memory size and speed figures)
# and runs a small instance of it as a smoke test; the full run is by hand (bench/RESULTS.md).
add_executable(bench_replay ${CMAKE_SOURCE_DIR}/bench/bench_replay.c)
target_link_libraries(bench_replay PRIVATE smbrl_core)
add_test(NAME bench_replay_smoke COMMAND bench_replay --capacity 3000 --streams 2 --iters 20)
set_tests_properties(bench_replay_smoke PROPERTIES LABELS unit)
