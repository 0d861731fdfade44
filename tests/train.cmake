# train.cmake: integration tests of `smbrl train` (tests/train_it.c): real worker processes,
# real files, the ROM from SMBRL_ROM_DIR (skipped without it). Each case runs in its own
# folder under the build tree and takes well under a minute on two cores.
add_executable(train_it ${CMAKE_CURRENT_SOURCE_DIR}/train_it.c)
target_include_directories(train_it PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(train_it PRIVATE smbrl_core)
foreach(case run kill resume sigint2 errors)
  add_test(NAME train_${case}
           COMMAND train_it ${case} $<TARGET_FILE:smbrl> ${CMAKE_CURRENT_BINARY_DIR}/train_${case}
                   "$ENV{SMBRL_ROM_DIR}")
  set_tests_properties(train_${case} PROPERTIES LABELS "unit;train" SKIP_RETURN_CODE 77 TIMEOUT 240)
endforeach()
