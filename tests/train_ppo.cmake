# train_ppo.cmake: integration tests of `smbrl train --algo ppo` and `--obs tiles`
# and DQN's --save-replay (tests/train_ppo_it.c): real worker processes, real files, the ROM from SMBRL_ROM_DIR
# (skipped without it). Each case runs in its own folder and takes well under a minute.
add_executable(train_ppo_it ${CMAKE_CURRENT_SOURCE_DIR}/train_ppo_it.c)
target_include_directories(train_ppo_it PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(train_ppo_it PRIVATE smbrl_core)
foreach(case pixels tiles resume errors replay sync)
  add_test(NAME train_ppo_${case}
           COMMAND train_ppo_it ${case} $<TARGET_FILE:smbrl> ${CMAKE_CURRENT_BINARY_DIR}/train_ppo_${case}
                   "$ENV{SMBRL_ROM_DIR}")
  set_tests_properties(train_ppo_${case} PROPERTIES LABELS "unit;train" SKIP_RETURN_CODE 77 TIMEOUT 240)
endforeach()
